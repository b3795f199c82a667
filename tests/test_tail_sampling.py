"""Tail sampling: the trace router in front of the collector, the sampler's pipeline and policies,
Envoy at 100 %, and the rules that keep the setup correct (on the `tail` test stack)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshtools.manifests import Manifest
from meshtools.recording import Run
from meshtools.verify import cli
from meshtools.verify.cli import expected_attributes
from meshtools.verify.cluster import KubeCluster
from meshtools.verify.tail import fnv1a64, share_hash, share_keeps, share_threshold, verification_case
from tests.conftest import run_test_stack, stack_run, stack_settings
from tests.support import cluster_data as data
from tests.support.fake_apiserver import FakeApiServer, Reply, Request, serve
from tests.support.policy import violations
from tests.support.rendered import check, rendered_objects
from tests.support.signoz_store import insert_span, signoz_clickhouse
from tests.test_policy import RULE, edited
from tests.test_settings import problems, with_

TAIL = {
    "enabled": True,
    "keepErrors": True,
    "slowerThanMs": 2000,
    "percent": 1,
    "decisionWaitSeconds": 30,
    "routerReplicas": 2,
    "expectedTracesPerSecond": 600,
}


@pytest.fixture(scope="module")
def tail() -> Run:
    return stack_run("tail")


def router_config(run: Run) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(run.named("signoz-trace-router-config").inputs["data"]["config.yaml"])
    return config


def test_the_router_sends_each_trace_by_its_id_to_one_collector(tail: Run) -> None:
    config = router_config(tail)
    assert config["receivers"] == {"zipkin": {"endpoint": "0.0.0.0:9411"}}
    assert config["service"]["pipelines"] == {
        "traces": {
            "receivers": ["zipkin"],
            "processors": ["memory_limiter", "resource/mesh-tracing", "attributes/scrub-credentials", "batch"],
            "exporters": ["loadbalancing"],
        }
    }
    assert config["exporters"]["loadbalancing"] == {
        "routing_key": "traceID",
        "protocol": {"otlp": {"tls": {"insecure": True}}},
        "resolver": {"k8s": {"service": "signoz-otel-collector.signoz", "ports": [4317], "timeout": "1m"}},
    }
    attributes = config["processors"]["resource/mesh-tracing"]["attributes"]
    assert {a["key"]: a["value"] for a in attributes} == {
        "deployment.environment": "staging",
        "k8s.cluster.name": "staging-eu-1",
        "team": "payments",
    }


def test_the_collector_samples_after_counting_every_span(tail: Run) -> None:
    values = tail.named("signoz-release").inputs["values"]["otelCollector"]
    traces = values["config"]["service"]["pipelines"]["traces"]
    assert traces == {
        "receivers": ["otlp", "jaeger"],
        "processors": ["memory_limiter", "signozspanmetrics/delta", "tail_sampling", "batch"],
        "exporters": ["clickhousetraces", "metadataexporter", "signozmeter"],
    }
    sampler = values["config"]["processors"]["tail_sampling"]
    assert [(p["name"], p["type"]) for p in sampler["policies"]] == [
        ("errors", "status_code"),
        ("grpc-errors", "string_attribute"),
        ("slow", "latency"),
        ("share", "probabilistic"),
    ]
    assert sampler["policies"][0]["status_code"] == {"status_codes": ["ERROR"]}
    assert sampler["policies"][2]["latency"] == {"threshold_ms": 2000}
    assert sampler["policies"][3]["probabilistic"] == {"sampling_percentage": 1}
    # 600 traces/s over 3 replicas for 30 s: 6 000 held per replica; twice that as headroom.
    assert (sampler["decision_wait"], sampler["num_traces"], sampler["expected_new_traces_per_sec"]) == (
        "30s",
        12_000,
        200,
    )
    assert (values["replicaCount"], values["autoscaling"]["enabled"]) == (3, False)
    assert values["ports"] == {}, "Envoy reports to the router"


def test_envoy_reports_every_request_to_the_router(tail: Run) -> None:
    [rule] = tail.named("mesh-telemetry").inputs["spec"]["tracing"]
    assert rule["randomSamplingPercentage"] == 100
    [provider] = tail.named("mesh-istiod").inputs["values"]["meshConfig"]["extensionProviders"]
    assert (provider["zipkin"]["service"], provider["zipkin"]["port"]) == (
        "signoz-trace-router.signoz.svc.cluster.local",
        9411,
    )
    assert tail.outputs["zipkinEndpoint"] == "http://signoz-trace-router.signoz.svc.cluster.local:9411/api/v2/spans"


def test_without_errors_or_latency_only_the_share_is_a_policy() -> None:
    run = run_test_stack("tail", {"tailSampling": TAIL | {"keepErrors": False, "slowerThanMs": None}})
    sampler = run.named("signoz-release").inputs["values"]["otelCollector"]["config"]["processors"]["tail_sampling"]
    assert [p["name"] for p in sampler["policies"]] == ["share"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"samplingPercent": 10},
            ["mesh-tracing:samplingPercent: got 10.0 — must be 100: with tailSampling.enabled the decision moves to "
             "the collector (Envoy reports all)"],
        ),
        (
            {"tailSampling": TAIL | {"percent": 150}},
            ["mesh-tracing:tailSampling.percent: got 150 — Input should be less than or equal to 100"],
        ),
        (
            {"tailSampling": TAIL | {"decisionWaitSeconds": 6}},
            ["mesh-tracing:tailSampling.decisionWaitSeconds: got 6 — must be longer than Envoy's Zipkin flush "
             "interval (5 s) plus slowerThanMs (2000 ms): a trace's last spans would arrive after its decision"],
        ),
        (
            {"tailSampling": TAIL | {"decisionWaitSeconds": 5, "slowerThanMs": None}},
            ["mesh-tracing:tailSampling.decisionWaitSeconds: got 5 — must be longer than Envoy's Zipkin flush "
             "interval (5 s): a trace's last spans would arrive after its decision"],
        ),
        (
            {"tracedNamespaces": [{"name": "checkout", "samplingPercent": 10}]},
            ["mesh-tracing:tracedNamespaces[0].samplingPercent: got 10.0 — must be unset or 100: with "
             "tailSampling.enabled the decision moves to the collector; a namespace below 100 % would hide its errors"],
        ),
        (
            {"signoz": {"collector": {"autoscaling": {"enabled": True}, "resources": {"limits": {"memory": "1Gi"}}}}},
            ["mesh-tracing:signoz.collector.autoscaling.enabled: got true — must be false with tailSampling.enabled: "
             "a change of replicas reshards traces, and a trace split between two samplers is decided in halves"],
        ),
    ],
)  # fmt: skip
def test_rules_name_the_key(changes: dict[str, Any], expected: list[str]) -> None:
    assert problems(with_("tail", **changes)) == expected


def test_remote_mode_refuses_it_and_says_why() -> None:
    found = problems(with_("remote", samplingPercent=100, tailSampling=TAIL))
    assert len(found) == 1 and found[0].startswith(
        "mesh-tracing:tailSampling.enabled: got true — not in mode 'remote': the decision is made where SigNoz runs."
    )


def test_production_keeps_the_stored_share_at_most_10_percent() -> None:
    rule = RULE["production-sampling-at-most-10-percent"]
    production = {"environment": "production", "kubernetes:context": "prod"}
    run = run_test_stack("tail", production)
    assert violations(rule, run) == [], "Envoy at 100 % is the point of tail sampling"

    def keep_a_quarter(inputs: dict[str, Any]) -> None:
        policies = inputs["values"]["otelCollector"]["config"]["processors"]["tail_sampling"]["policies"]
        policies[-1]["probabilistic"]["sampling_percentage"] = 25

    assert violations(rule, edited(run, "signoz-release", keep_a_quarter)) == [
        "The SigNoz collector keeps 25 % of the traces that are neither errors nor slow in production environment "
        "'production'; above 10 % the trace volume is costly — lower mesh-tracing:samplingPercent (with tail "
        "sampling mesh-tracing:tailSampling.percent) or the namespace's override."
    ]


def test_the_rendered_path_runs_through_the_router_to_the_sampler() -> None:
    objects = rendered_objects(stack_run("tail"))
    assert check("tail", stack_settings("tail"), objects).problems == []

    def swap(manifests: list[Manifest]) -> list[Manifest]:
        """The collector's span metrics moved after the sampler: RED metrics would count kept spans only."""
        found = []
        for manifest in manifests:
            text = (manifest.object.get("data") or {}).get("otel-collector-config.yaml")
            if manifest.object.get("kind") == "ConfigMap" and text and "tail_sampling" in text:
                config = yaml.safe_load(text)
                config["service"]["pipelines"]["traces"]["processors"] = [
                    "memory_limiter", "tail_sampling", "signozspanmetrics/delta", "batch"
                ]  # fmt: skip
                obj = {**manifest.object, "data": {"otel-collector-config.yaml": yaml.safe_dump(config)}}
                found.append(Manifest(manifest.origin, obj))
            else:
                found.append(manifest)
        return found

    assert check("tail", stack_settings("tail"), swap(objects)).problems == [
        "tail: rendered: tail sampler: span metrics come after tail_sampling and would count only kept spans: "
        "['memory_limiter', 'tail_sampling', 'signozspanmetrics/delta', 'batch']"
    ]


# --------------------------------------------------------------------------- verify


def test_fnv1a64_is_the_published_function() -> None:
    """Test vectors of FNV-1a 64 (Fowler/Noll/Vo's reference test suite)."""
    assert fnv1a64(b"") == 0xCBF29CE484222325
    assert fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert fnv1a64(b"foobar") == 0x85944171F73967E8


def test_the_verification_trace_is_one_the_share_would_drop() -> None:
    settings = stack_settings("tail").tail_sampling
    case = verification_case(settings)
    assert case is not None and case.tags == {"error": "true", "http.status_code": "503"}
    assert case.what == "an error trace that the 1 % share would have dropped"
    ids = [case.trace_id() for _ in range(20)]
    assert all(share_hash(trace_id) > share_threshold(1) for trace_id in ids)
    slow = verification_case(settings.model_copy(update={"keep_errors": False}))
    assert slow is not None and slow.duration_us == 2_100_000 and slow.tags == {}
    share = verification_case(settings.model_copy(update={"keep_errors": False, "slower_than_ms": None}))
    assert share is not None and all(share_keeps(share.trace_id(), 1) for _ in range(5))
    nothing = settings.model_copy(update={"keep_errors": False, "slower_than_ms": None, "percent": 0.0})
    assert verification_case(nothing) is None


@pytest.fixture
def clickhouse() -> Iterator[Any]:
    with signoz_clickhouse() as session:
        yield session


def test_verify_posts_the_error_trace_to_the_router_and_finds_it_kept(tmp_path: Path, clickhouse: Any) -> None:
    """A fake sampler keeps error traces only (as keepErrors does); verify's span must be one."""
    kept: list[dict[str, Any]] = []

    def router(request: Request) -> Reply:
        kept.extend(span for span in json.loads(request.body) if span["tags"].get("error") == "true")
        return 202, b""

    def query(request: Request) -> Reply:
        for span in kept:
            insert_span(clickhouse, span["traceId"], span["localEndpoint"]["serviceName"], attributes)
        kept.clear()
        return 200, str(clickhouse.query(request.body.decode())).encode()

    settings = stack_settings("tail")
    attributes = dict(expected_attributes(settings))
    with serve(FakeApiServer()) as api:
        api.json("/version", {"major": "1", "minor": "34"})
        api.add(*data.without_pods(data.objects()))
        api.routes[("POST", "/api/v1/namespaces/signoz/services/signoz-trace-router:9411/proxy/api/v2/spans")] = router
        api.routes[("POST", "/api/v1/namespaces/signoz/services/signoz-clickhouse:8123/proxy/")] = query
        cluster = KubeCluster.connect(kubeconfig=str(api.kubeconfig(tmp_path)))
        result = cli.round_trip_check(cluster, settings, 5, lambda elapsed: None, interval=0.01)
    assert result.ok, result
    assert result.detail.startswith("an error trace that the 1 % share would have dropped: arrived after ")
