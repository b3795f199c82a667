"""`make open`: the real Kubernetes client's port-forward, over the websocket protocol, to a fake API
server on loopback whose "pods" are small HTTP servers; plus the pure parts (pod choice, login help)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest

from config.kiali import TokenAuth
from meshtools.verify import cli
from meshtools.verify.forward import Target, kiali_login, ready_pod
from tests.conftest import stack_settings
from tests.support import cluster_data as data
from tests.support.fake_apiserver import FakeApiServer, serve
from tests.test_verify_cluster import run_cli

KIALI_POD = "kiali-7f6d8c9b5-v3c2x"  # the ready one; kiali-5d4c3b2a1-old9z is terminating


@contextmanager
def pod_port(page: bytes) -> Iterator[tuple[str, int]]:
    """A pod's HTTP port, on loopback: answers every GET with `page`, and the path asked for."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page + b" " + self.path.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield ("127.0.0.1", server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cluster(api: FakeApiServer) -> None:
    api.json("/version", {"major": "1", "minor": "34"})
    api.add(*data.without_pods(data.objects("signoz", "istio-system")))


def test_open_forwards_signoz_and_kiali_until_ctrl_c(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    signoz_port, kiali_port = free_port(), free_port()
    seen: dict[str, bytes] = {}

    def browse() -> None:  # what a user does while `make open` runs, then Ctrl-C
        seen["signoz"] = urlopen(f"http://127.0.0.1:{signoz_port}/traces-explorer", timeout=10).read()
        seen["again"] = urlopen(f"http://127.0.0.1:{signoz_port}/services", timeout=10).read()
        seen["kiali"] = urlopen(f"http://127.0.0.1:{kiali_port}/kiali/console/graph/namespaces", timeout=10).read()
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "wait_for_interrupt", browse)
    with serve(FakeApiServer()) as api, pod_port(b"signoz-ui") as signoz, pod_port(b"kiali") as kiali:
        cluster(api)
        api.pod_ports[("signoz", "signoz-0", 8080)] = signoz
        api.pod_ports[("istio-system", KIALI_POD, 20001)] = kiali
        code = run_cli(
            tmp_path, api, "open", "--stack", "dev", "--signoz-port", str(signoz_port), "--kiali-port", str(kiali_port)
        )
        forwards = [r for r in api.requests if r.path.endswith("/portforward")]
    assert code == 0
    assert seen == {
        "signoz": b"signoz-ui /traces-explorer",
        "again": b"signoz-ui /services",
        "kiali": b"kiali /kiali/console/graph/namespaces",
    }
    assert capsys.readouterr().out.splitlines() == [
        f"SigNoz  http://localhost:{signoz_port}/  (Service signoz/signoz:8080, pod signoz-0:8080)",
        f"Kiali   http://localhost:{kiali_port}/kiali/  (Service istio-system/kiali:20001, pod {KIALI_POD}:20001)",
        "Kiali login: no login (auth strategy anonymous)",
        "Ctrl-C stops the forwarding",
        "stopped",
    ]
    assert [(r.path, r.query) for r in forwards] == [
        ("/api/v1/namespaces/signoz/pods/signoz-0/portforward", {"ports": "8080"}),
        ("/api/v1/namespaces/signoz/pods/signoz-0/portforward", {"ports": "8080"}),
        (f"/api/v1/namespaces/istio-system/pods/{KIALI_POD}/portforward", {"ports": "20001"}),
    ]
    assert all("v4.channel.k8s.io" in r.headers["sec-websocket-protocol"] for r in forwards)
    assert all(r.headers["authorization"] == "Bearer test-token" for r in forwards)
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", signoz_port), timeout=2):
        pass  # the listener is gone after Ctrl-C


def test_a_port_in_use_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "wait_for_interrupt", lambda: pytest.fail("must not start forwarding"))
    with serve(FakeApiServer()) as api, socket.socket() as taken:
        cluster(api)
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = str(taken.getsockname()[1])
        code = run_cli(tmp_path, api, "open", "--stack", "dev", "--kiali-port", busy, "--signoz-port", str(free_port()))
    assert code == 2
    captured = capsys.readouterr()
    assert captured.err == (
        f"error: port {busy} on 127.0.0.1 is in use (another port-forward?); "
        'choose another with ARGS="--kiali-port <port>"\n'
    )
    assert captured.out == ""


def test_no_ready_pod_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve(FakeApiServer()) as api:
        cluster(api)
        api.remove("/apis/discovery.k8s.io/v1/namespaces/signoz/endpointslices/signoz-q4w8e")
        code = run_cli(tmp_path, api, "open", "--stack", "dev", "--signoz-port", str(free_port()),
                       "--kiali-port", str(free_port()))  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err == "error: no ready pod behind Service signoz:8080 in signoz\n"


def test_the_ready_pod_is_chosen_by_service_port_name() -> None:
    service = data.obj("istio-system", "Service", "kiali")
    slices = [data.obj("istio-system", "EndpointSlice", "kiali-h5n7m")]
    assert ready_pod(service, slices, 20001) == (KIALI_POD, 20001)
    assert ready_pod(service, slices, 9090) == (KIALI_POD, 9090)
    assert ready_pod(service, slices, 8080) is None
    slices[0]["endpoints"][1]["conditions"]["ready"] = False
    assert ready_pod(service, slices, 20001) is None, "the other pod is terminating"
    signoz = data.obj("signoz", "Service", "signoz")
    signoz_slices = [data.obj("signoz", "EndpointSlice", "signoz-q4w8e")]
    del signoz_slices[0]["endpoints"][0]["conditions"]["ready"]  # unset means ready
    assert ready_pod(signoz, signoz_slices, 8080) == ("signoz-0", 8080)


def test_kiali_login_follows_the_auth_strategy() -> None:
    kiali = Target("Kiali", "istio-system", "kiali", 20001, 20001, "/kiali/")
    assert kiali_login(stack_settings("dev"), kiali) == "no login (auth strategy anonymous)"
    prod = stack_settings("prod")
    assert kiali_login(prod, kiali) == (
        "Kiali sends you to https://sso.example.com/realms/platform (client kiali); that provider must accept the "
        "redirect URI http://localhost:20001/kiali/, or set Kiali's server.web_fqdn to the address it knows"
    )
    token = prod.model_copy(update={"kiali": prod.kiali.model_copy(update={"auth": TokenAuth()})})
    assert kiali_login(token, kiali).startswith(
        "paste a bearer token of a ServiceAccount allowed to view the mesh; Kiali then acts with its RBAC. "
        "`kubectl -n istio-system create token kiali` prints a short-lived read-only one"
    )
