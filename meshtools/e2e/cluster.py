"""A Kubernetes cluster on loopback for `make e2e`: real etcd, kube-apiserver, kube-controller-manager
and kube-scheduler, with kwok in place of kubelets; started and stopped by the test run itself.

- Every port is on 127.0.0.1; the cluster has its own kubeconfig, context name and temporary folder
  (etcd's data, the API server's certificates, logs), removed when it stops.
- Every process is ended when the block ends, on failure too; on Linux each also dies with the
  process that started it.
- Admission webhooks are off in the API server: no istiod runs to answer the sidecar injector or
  Istio's validation webhook. Built-in admission (ValidatingAdmissionPolicy's CEL, default storage
  class, service accounts, …) stays on.
- kwok keeps one fake node ready and moves pods through its stages (running and ready; Jobs' pods
  completed), so Helm's wait completes; its volume stages provision and bind claims of its default
  StorageClass. No container runs: no Envoy, no collector, no ClickHouse.
- Nothing assigns LoadBalancer addresses.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from meshtools.cli import ToolError

SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
NODE_NAME = "kwok-node-0"
NODE_IP = "10.240.0.10"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
TOKEN_USER = "e2e-admin"
# Admission plugins that call out to webhooks: nothing in the cluster can answer them.
WEBHOOK_ADMISSION = ("MutatingAdmissionWebhook", "ValidatingAdmissionWebhook")
READY_SECONDS = 120
STOP_SECONDS = 15


@dataclass(frozen=True)
class Binaries:
    """Where the control plane's programs and kwok's stage files are (from tools/toolchain.py)."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kwok: Path
    kwok_stages: Path  # folder of kwok's stage folders (node/fast, pod/fast, volume/fast, …)


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    kwok: int


@dataclass(frozen=True)
class Layout:
    """The cluster's temporary folder."""

    root: Path

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def certs(self) -> Path:
        return self.root / "certs"

    @property
    def serving_cert(self) -> Path:
        # kube-apiserver writes a self-signed certificate (and its CA) here when given none.
        return self.certs / "apiserver.crt"

    @property
    def tokens(self) -> Path:
        return self.root / "tokens.csv"

    @property
    def service_account_key(self) -> Path:
        return self.root / "service-account.key"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def kwok_config(self) -> Path:
        return self.root / "kwok.yaml"

    @property
    def logs(self) -> Path:
        return self.root / "logs"


# --------------------------------------------------------------------------- commands (pure)


def etcd_command(binaries: Binaries, layout: Layout, ports: Ports) -> list[str]:
    peer = f"http://127.0.0.1:{ports.etcd_peer}"
    client = f"http://127.0.0.1:{ports.etcd_client}"
    return [
        str(binaries.etcd),
        "--name=e2e",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=e2e={peer}",
        "--listen-metrics-urls=",
        # A throwaway store: durability costs time and nothing else here.
        "--unsafe-no-fsync=true",
        "--log-level=warn",
    ]


def apiserver_command(binaries: Binaries, layout: Layout, ports: Ports) -> list[str]:
    return [
        str(binaries.kube_apiserver),
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={ports.apiserver}",
        f"--cert-dir={layout.certs}",
        f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
        f"--token-auth-file={layout.tokens}",
        "--authorization-mode=RBAC",
        f"--service-account-issuer=https://127.0.0.1:{ports.apiserver}",
        f"--service-account-key-file={layout.service_account_key}",
        f"--service-account-signing-key-file={layout.service_account_key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--disable-admission-plugins={','.join(WEBHOOK_ADMISSION)}",
        # The `kubernetes` Service's endpoints would be 127.0.0.1, which Endpoints refuse.
        "--endpoint-reconciler-type=none",
        "--allow-privileged=true",
        "--enable-priority-and-fairness=false",
        "--profiling=false",
    ]


def controller_manager_command(binaries: Binaries, layout: Layout) -> list[str]:
    return [
        str(binaries.kube_controller_manager),
        f"--kubeconfig={layout.kubeconfig}",
        f"--authentication-kubeconfig={layout.kubeconfig}",
        f"--authorization-kubeconfig={layout.kubeconfig}",
        "--leader-elect=false",
        "--secure-port=0",
        f"--root-ca-file={layout.serving_cert}",
        f"--service-account-private-key-file={layout.service_account_key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        f"--cluster-cidr={POD_CIDR}",
        "--allocate-node-cidrs=false",
        "--profiling=false",
    ]


def scheduler_command(binaries: Binaries, layout: Layout) -> list[str]:
    return [
        str(binaries.kube_scheduler),
        f"--kubeconfig={layout.kubeconfig}",
        f"--authentication-kubeconfig={layout.kubeconfig}",
        f"--authorization-kubeconfig={layout.kubeconfig}",
        "--leader-elect=false",
        "--secure-port=0",
        "--profiling=false",
    ]


def kwok_command(binaries: Binaries, layout: Layout, ports: Ports) -> list[str]:
    return [
        str(binaries.kwok),
        f"--kubeconfig={layout.kubeconfig}",
        f"--config={layout.kwok_config}",
        f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
        f"--cidr={POD_CIDR}",
        f"--node-ip={NODE_IP}",
        f"--server-address=127.0.0.1:{ports.kwok}",
        "--node-lease-duration-seconds=40",
    ]


# --------------------------------------------------------------------------- documents (pure)


def kubeconfig(context: str, server: str, ca_data: str, token: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "users": [{"name": f"{context}-admin", "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": f"{context}-admin"}}],
        "current-context": context,
    }


def fake_node(name: str = NODE_NAME) -> dict[str, Any]:
    """The node kwok plays: big enough for every chart's requests, labelled like a Linux node."""
    capacity = {"cpu": "64", "memory": "256Gi", "pods": "250", "ephemeral-storage": "1Ti"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                "topology.kubernetes.io/zone": "zone-a",
            },
        },
        "spec": {},
        "status": {"capacity": capacity, "allocatable": capacity},
    }


def stage_documents(stages: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """kwok's Stage documents under `stages` and the other objects there (its default StorageClass);
    kustomizations and test data are skipped."""
    found_stages: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    for path in sorted(stages.rglob("*.yaml")):
        if path.name == "kustomization.yaml" or "testdata" in path.parts:
            continue
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and document.get("kind"):
                (found_stages if document["kind"] == "Stage" else others).append(document)
    if not any(d["spec"]["resourceRef"]["kind"] == "Pod" for d in found_stages):
        raise ToolError(f"{stages}: no kwok pod stages")
    return found_stages, others


def kwok_configuration(stages: Sequence[Mapping[str, Any]]) -> str:
    """kwok's --config: the stages alone (a KwokConfiguration document would replace kwok's defaults)."""
    return yaml.safe_dump_all(list(stages))


# --------------------------------------------------------------------------- processes (shell)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, be killed when the process that started us dies."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path


@dataclass
class LoopbackCluster:
    """`with LoopbackCluster(binaries, "e2e-central") as cluster:` — a running cluster until the block ends."""

    binaries: Binaries
    context: str
    processes: list[_Process] = field(default_factory=list)
    layout: Layout = field(init=False)
    ports: Ports = field(init=False)
    token: str = field(init=False)

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    def __enter__(self) -> LoopbackCluster:
        self.layout = Layout(Path(tempfile.mkdtemp(prefix=f"mesh-tracing-{self.context}-")))
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start(self) -> None:
        layout = self.layout
        self.ports = Ports(free_port(), free_port(), free_port(), free_port())
        self.token = secrets.token_hex(24)
        for folder in (layout.certs, layout.logs):
            folder.mkdir(parents=True)
        layout.tokens.write_text(f'{self.token},{TOKEN_USER},{TOKEN_USER},"system:masters"\n')
        _service_account_key(layout.service_account_key)
        stages, objects = stage_documents(self.binaries.kwok_stages)
        layout.kwok_config.write_text(kwok_configuration(stages))

        self._spawn("etcd", etcd_command(self.binaries, layout, self.ports))
        self._wait(f"http://127.0.0.1:{self.ports.etcd_client}/health", "etcd")
        self._spawn("kube-apiserver", apiserver_command(self.binaries, layout, self.ports))
        self._wait_for_file(layout.serving_cert, "kube-apiserver")
        ca_data = base64.b64encode(layout.serving_cert.read_bytes()).decode()
        layout.kubeconfig.write_text(yaml.safe_dump(kubeconfig(self.context, self.server, ca_data, self.token)))
        self._wait(f"{self.server}/readyz", "kube-apiserver")
        self._spawn("kube-controller-manager", controller_manager_command(self.binaries, layout))
        self._spawn("kube-scheduler", scheduler_command(self.binaries, layout))
        self._spawn("kwok", kwok_command(self.binaries, layout, self.ports))
        for document in [fake_node(), *objects]:
            self.apply(document)
        self._wait_for_node_ready()

    def _spawn(self, name: str, command: list[str]) -> None:
        log = self.layout.logs / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.layout.root,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 (no threads run Python code in the child)
            )
        self.processes.append(_Process(name, popen, log))

    def _check_alive(self) -> None:
        for process in self.processes:
            if process.popen.poll() is not None:
                raise ToolError(
                    f"{process.name} exited with {process.popen.returncode} while the cluster started:\n"
                    + log_tail(process.log)
                )

    def _wait_for_file(self, path: Path, what: str) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while not path.exists():
            self._check_alive()
            if time.monotonic() > deadline:
                raise ToolError(f"{what} did not write {path} within {READY_SECONDS} s")
            time.sleep(0.2)

    def _wait(self, url: str, what: str) -> None:
        deadline = time.monotonic() + READY_SECONDS
        last = ""
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                self.request("GET", url)
                return
            except (OSError, urllib.error.URLError) as error:
                last = str(error)
            time.sleep(0.3)
        raise ToolError(f"{what} not ready at {url} within {READY_SECONDS} s ({last})")

    def _wait_for_node_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            self._check_alive()
            node = self.get(f"/api/v1/nodes/{NODE_NAME}")
            conditions = (node.get("status") or {}).get("conditions") or []
            if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
                return
            time.sleep(0.5)
        raise ToolError(f"kwok did not make node {NODE_NAME} Ready within {READY_SECONDS} s")

    # ------------------------------------------------------------------ the API, over plain HTTPS

    def _ssl(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.layout.serving_cert))

    def request(self, method: str, url: str, body: bytes | None = None, content_type: str = "") -> bytes:
        """One request to a cluster endpoint (etcd's plain HTTP or the API server's HTTPS)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        context = self._ssl() if url.startswith("https:") else None
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            data: bytes = response.read()
            return data

    def get(self, path: str) -> dict[str, Any]:
        """A GET of an API path; {} when the object does not exist."""
        try:
            loaded = json.loads(self.request("GET", f"{self.server}{path}"))
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return {}
            raise
        return loaded if isinstance(loaded, dict) else {}

    def apply(self, document: Mapping[str, Any]) -> None:
        """Server-side apply of one built-in object whose plural is its kind's (a node, a namespace,
        a storage class)."""
        kind = str(document["kind"])
        group_version = str(document["apiVersion"])
        base = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
        plural = kind.lower() + ("es" if kind.endswith("s") else "s")
        name = document["metadata"]["name"]
        url = f"{self.server}{base}/{plural}/{name}?fieldManager=mesh-tracing-e2e&force=true"
        body = yaml.safe_dump(dict(document)).encode()
        self.request("PATCH", url, body, "application/apply-patch+yaml")

    def stop(self) -> None:
        """End every process (TERM, then KILL after a grace period) and remove the cluster's folder."""
        for process in reversed(self.processes):
            if process.popen.poll() is None:
                process.popen.terminate()
        deadline = time.monotonic() + STOP_SECONDS
        for process in reversed(self.processes):
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait()
        self.processes.clear()
        if getattr(self, "layout", None) is not None:
            shutil.rmtree(self.layout.root, ignore_errors=True)


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _service_account_key(path: Path) -> None:
    """An RSA key that signs service-account tokens (made with openssl, which every Linux and macOS has)."""
    if shutil.which("openssl") is None:
        raise ToolError("openssl is needed to make the loopback cluster's service-account key; install it")
    subprocess.run(
        ["openssl", "genrsa", "-out", str(path), "2048"], check=True, capture_output=True, env=dict(os.environ)
    )


@contextlib.contextmanager
def terminated_on_signals() -> Iterator[None]:
    """SIGTERM (a cancelled CI job) raises SystemExit, so every `with` block stops its processes."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
