"""verify in remote mode: the span is posted to the agent and must leave the cluster, as the agent's
own counters show (sent grows, nothing failed) — against the fake API server, with agents whose
metrics endpoint counts like the collector's exporter helper does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest
import yaml

from meshtools.cli import run_command
from meshtools.verify import agent, cli
from tests.conftest import TEST_STACKS
from tests.support import cluster_data as data
from tests.support.fake_apiserver import FakeApiServer, Request, serve
from tests.test_verify_open import KIALI_POD, free_port, pod_port
from tests.test_verify_open import cluster as open_cluster

NS = "signoz"
AGENT = "k8s-infra-otel-agent"  # the chart's `<fullname>-otel-agent` for release k8s-infra
AGENT_FQDN = f"{AGENT}.{NS}.svc.cluster.local"
EXPORTER = "otlphttp/signoz-remote"
AGENT_LABELS = {
    "app.kubernetes.io/name": "k8s-infra",
    "app.kubernetes.io/instance": "k8s-infra",
    "app.kubernetes.io/component": "otel-agent",
}

# As an otelcol 0.139 agent serves them with the default reader flags (no _total suffix, no units):
# exporter-helper counters labelled by exporter, the receiver's by receiver and transport.
METRICS = """# HELP otelcol_exporter_sent_spans Number of spans successfully sent to destination.
# TYPE otelcol_exporter_sent_spans counter
otelcol_exporter_sent_spans{{exporter="{exporter}"}} {sent}
otelcol_exporter_sent_spans{{exporter="debug"}} 999
# TYPE otelcol_exporter_send_failed_spans counter
otelcol_exporter_send_failed_spans{{exporter="{exporter}"}} {failed}
# TYPE otelcol_exporter_enqueue_failed_spans counter
otelcol_exporter_enqueue_failed_spans{{exporter="{exporter}"}} 0
# TYPE otelcol_exporter_queue_size gauge
otelcol_exporter_queue_size{{exporter="{exporter}"}} {queued}
# TYPE otelcol_exporter_queue_capacity gauge
otelcol_exporter_queue_capacity{{exporter="{exporter}"}} 100000
# TYPE otelcol_receiver_accepted_spans counter
otelcol_receiver_accepted_spans{{receiver="zipkin",transport="http"}} {received}
"""


class Agent:
    """One agent pod's counters; a posted span is exported (or refused, or held) after a poll."""

    def __init__(self, received: int, outcome: str) -> None:
        self.sent, self.failed, self.queued, self.received, self.outcome = 0, 0, 0, received, outcome
        self.pending = 0

    def metrics(self, request: Request) -> tuple[int, bytes]:
        if self.pending:  # the batch processor flushed since the last scrape
            if self.outcome == "export":
                self.sent += self.pending
            elif self.outcome == "refuse":  # e.g. 401 from the central side: dropped, not retried
                self.failed += self.pending
            else:  # the endpoint is down: retried from the queue
                self.queued += self.pending
            self.pending = 0
        text = METRICS.format(
            exporter=EXPORTER, sent=self.sent, failed=self.failed, queued=self.queued, received=self.received
        )
        return 200, text.encode()


def remote_cluster(api: FakeApiServer, outcome: str, received: int = 41) -> list[Agent]:
    """The remote test stack deployed: the mesh reports to the agent Service; two agent pods."""
    api.json("/version", {"major": "1", "minor": "34"})
    mesh = data.obj("istio-system", "ConfigMap", "istio")
    mesh["data"]["mesh"] = mesh["data"]["mesh"].replace("signoz-otel-collector.signoz.svc.cluster.local", AGENT_FQDN)
    api.add(mesh, data.obj("istio-system", "Deployment", "istiod"))
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": AGENT, "namespace": NS, "labels": AGENT_LABELS},
        "spec": {
            "selector": AGENT_LABELS,
            "internalTrafficPolicy": "Local",
            "ports": [{"name": "zipkin", "port": 9411, "targetPort": 9411, "protocol": "TCP"}],
        },
    }
    slice_ = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{AGENT}-b7x2q", "namespace": NS, "labels": {"kubernetes.io/service-name": AGENT}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.244.1.7"], "conditions": {"ready": True}}],
        "ports": [{"name": "zipkin", "port": 9411, "protocol": "TCP"}],
    }
    # As the k8s-infra chart lays out the agent: a DaemonSet mounting its ConfigMap, the key from a
    # Secret through the environment, the exporter naming it, the counters served on every interface.
    config = {
        "receivers": {"zipkin": {"endpoint": "0.0.0.0:9411"}},
        "exporters": {
            EXPORTER: {
                "endpoint": "https://signoz-ingest.example.com",
                "headers": {"Authorization": "Bearer ${env:SIGNOZ_API_KEY}"},
            }
        },
        "service": {
            "pipelines": {
                "traces": {"receivers": ["zipkin"], "processors": ["memory_limiter", "batch"], "exporters": [EXPORTER]}
            },
            "telemetry": {
                "metrics": {"readers": [{"pull": {"exporter": {"prometheus": {"host": "0.0.0.0", "port": 8888}}}}]}
            },
        },
    }
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": AGENT, "namespace": NS},
        "data": {"otel-agent-config.yaml": yaml.safe_dump(config)},
    }
    key = {"name": "SIGNOZ_API_KEY", "valueFrom": {"secretKeyRef": {"name": "signoz-ingest-key", "key": "token"}}}
    daemonset = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": AGENT, "namespace": NS, "labels": AGENT_LABELS},
        "spec": {
            "selector": {"matchLabels": AGENT_LABELS},
            "template": {
                "metadata": {"labels": AGENT_LABELS},
                "spec": {
                    "containers": [{"name": "otel-agent", "env": [key]}],
                    "volumes": [{"name": "otel-agent-config-vol", "configMap": {"name": AGENT}}],
                },
            },
        },
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "signoz-ingest-key", "namespace": NS},
        "data": {"token": "a2V5"},
    }
    api.add(service, slice_, configmap, daemonset, secret)
    agents = [Agent(received, outcome), Agent(0, outcome)]
    for index, agent_pod in enumerate(agents):
        name = f"{AGENT}-{'xyz'[index]}4k2p"
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": AGENT_LABELS},
            "status": {"phase": "Running"},
        }
        api.add(pod)
        api.routes[("GET", f"/api/v1/namespaces/{NS}/pods/{name}:8888/proxy/metrics")] = agent_pod.metrics

    def zipkin(request: Request) -> tuple[int, bytes]:
        agents[0].pending += len(json.loads(request.body))  # the apiserver proxy picked the first pod
        return 202, b""

    api.routes[("POST", f"/api/v1/namespaces/{NS}/services/{AGENT}:9411/proxy/api/v2/spans")] = zipkin
    return agents


def verify(tmp_path: Path, api: FakeApiServer, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    argv = ["verify", "--stack", "remote", "--stacks-dir", str(TEST_STACKS), "--json", "--timeout", "0.3"]
    argv += ["--poll-interval", "0.01", "--kubeconfig", str(api.kubeconfig(tmp_path, "prod-us-test"))]
    code = run_command(cli.main, argv)
    return code, {r["check"]: r for r in json.loads(capsys.readouterr().out)}


def test_a_span_that_left_the_cluster_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with serve(FakeApiServer()) as api:
        remote_cluster(api, "export")
        _, results = verify(tmp_path, api, capsys)
    assert results["mesh config Zipkin provider"]["ok"], "the mesh reports to the agent"
    assert results["agent Service"]["detail"] == "port 9411 with 1 ready endpoint(s)"
    assert results["agent traces pipeline"]["detail"] == (
        "DaemonSet k8s-infra-otel-agent: traces receivers ['zipkin'], memory_limiter first"
    )
    assert results["agent exporter"]["detail"] == "otlphttp/signoz-remote → https://signoz-ingest.example.com"
    left = results["span left the cluster"]
    assert left["ok"] and left["detail"].startswith("exported to https://signoz-ingest.example.com after ")
    assert left["detail"].endswith(": sent +1 span(s), 0 failed (queue 0/200000 spans)"), "two agents' capacity"
    assert results["sidecar spans reach the agent"] == {
        "check": "sidecar spans reach the agent",
        "ok": True,
        "detail": "the agents' Zipkin receivers accepted 41 span(s) since they started",
        "fix": "",
    }
    assert "span round trip" not in results and "sidecar spans" not in results, "no ClickHouse in this cluster"


def test_a_refused_span_fails_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with serve(FakeApiServer()) as api:
        remote_cluster(api, "refuse")
        code, results = verify(tmp_path, api, capsys)
    assert code == 1
    left = results["span left the cluster"]
    assert not left["ok"]
    assert left["detail"] == (
        "https://signoz-ingest.example.com refused spans: send_failed +1, dropped on a full queue +0 "
        "(queue 0/200000 spans)"
    )
    assert "the ingest key (a 401/403 drops spans at once, no retry)" in left["fix"]
    assert left["fix"].endswith("the agent's log: kubectl -n signoz logs ds/k8s-infra-otel-agent")


def test_a_span_held_in_the_queue_says_the_endpoint_is_not_taking_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve(FakeApiServer()) as api:
        remote_cluster(api, "queue", received=0)
        code, results = verify(tmp_path, api, capsys)
    assert code == 1
    assert results["span left the cluster"]["detail"] == (
        "nothing was exported to https://signoz-ingest.example.com within 0.3 s; 1 span(s) queued, retried until "
        "signoz.remote.maxRetrySeconds"
    )
    assert not results["sidecar spans reach the agent"]["ok"]
    assert "sampling 0 %" in results["sidecar spans reach the agent"]["fix"]


def test_counters_read_either_spelling_and_only_our_exporter() -> None:
    text = (
        'otelcol_exporter_sent_spans_total{exporter="otlphttp/signoz-remote",service_name="x"} 7\n'
        'otelcol_exporter_sent_spans_total{exporter="otlp"} 100\n'
        'otelcol_receiver_accepted_spans_total{receiver="zipkin",transport="http"} 3\n'
        'otelcol_receiver_accepted_spans_total{receiver="otlp",transport="grpc"} 50\n'
        "# a comment 12\n"
    )
    assert agent.counters(text) == agent.Counters(sent=7, received=3)
    assert agent.total({"a": text, "b": text}) == agent.Counters(sent=14, received=6)


def test_open_forwards_only_kiali_and_says_where_signoz_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kiali_port = free_port()
    seen: dict[str, bytes] = {}

    def browse() -> None:
        seen["kiali"] = urlopen(f"http://127.0.0.1:{kiali_port}/kiali/", timeout=10).read()
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "wait_for_interrupt", browse)
    argv = ["open", "--stack", "remote", "--stacks-dir", str(TEST_STACKS), "--kiali-port", str(kiali_port)]
    with serve(FakeApiServer()) as api, pod_port(b"kiali") as kiali:
        open_cluster(api)
        api.pod_ports[("istio-system", KIALI_POD, 20001)] = kiali
        code = run_command(cli.main, [*argv, "--kubeconfig", str(api.kubeconfig(tmp_path, "prod-us-test"))])
    assert code == 0
    assert seen == {"kiali": b"kiali /kiali/"}
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == [
        "SigNoz  https://signoz.example.com  (signoz.mode remote: not in this cluster)",
        f"Kiali   http://localhost:{kiali_port}/kiali/  (Service istio-system/kiali:20001, pod {KIALI_POD}:20001)",
    ]
    assert lines[2].startswith("Kiali login: ") and lines[-1] == "stopped"


def test_set_retention_belongs_to_the_central_stack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with serve(FakeApiServer()) as api:
        api.json("/version", {"major": "1", "minor": "34"})
        argv = ["set-retention", "--stack", "remote", "--stacks-dir", str(TEST_STACKS)]
        code = run_command(cli.main, [*argv, "--kubeconfig", str(api.kubeconfig(tmp_path, "prod-us-test"))])
    assert code == 2
    assert capsys.readouterr().err == (
        "error: signoz.mode is remote: this cluster stores no traces; set the retention on the stack that runs "
        "SigNoz (make set-retention STACK=<central stack>)\n"
    )
