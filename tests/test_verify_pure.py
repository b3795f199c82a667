"""verify's pure parts: the Zipkin span, the checks over API objects, restart and retention logic."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import yaml

from kube import revisions
from meshtools import datapath, sidecars
from meshtools.clusterview import ObjectsView
from meshtools.postdeploy import Context, Result, Stage, Target, targets
from meshtools.verify import checks
from meshtools.verify.clickhouse import Arrival, arrival_query, mesh_spans_query
from meshtools.verify.restart import Refusal, kubectl_timestamp, refusal, restart_patch
from meshtools.verify.retention import Outcome, RetentionError, RetentionResult, TtlState, read_ttl, set_retention
from meshtools.verify.span import VERIFY_SERVICE, new_span_id, new_trace_id, verification_span
from tests.conftest import stack_settings
from tests.support import cluster_data as data
from tests.support.fake_signoz import FakeSigNoz

FQDN = "signoz-otel-collector.signoz.svc.cluster.local"


# --------------------------------------------------------------------------- span


def test_span_is_zipkin_v2_json() -> None:
    trace_id, span_id = new_trace_id(), new_span_id()
    span = verification_span(trace_id, span_id, 1_764_000_000_123_456, 2500, tags={"verify": "true", "n": 3})  # type: ignore[dict-item]
    assert re.fullmatch(r"[0-9a-f]{32}", span["traceId"]) and re.fullmatch(r"[0-9a-f]{16}", span["id"])
    assert span["kind"] == "SERVER"
    assert span["timestamp"] == 1_764_000_000_123_456, "epoch microseconds"
    assert span["duration"] == 2500
    assert span["localEndpoint"] == {"serviceName": VERIFY_SERVICE}
    assert span["tags"] == {"verify": "true", "n": "3"}, "Zipkin tags are strings"
    assert json.loads(json.dumps([span])) == [span]


def test_trace_ids_are_fresh_128_bit() -> None:
    ids = {new_trace_id() for _ in range(100)}
    assert len(ids) == 100 and all(len(i) == 32 for i in ids)


@pytest.mark.parametrize(
    ("trace_id", "span_id", "kind"),
    [("ABC", "0" * 16, "SERVER"), ("0" * 32, "xyz", "SERVER"), ("0" * 32, "0" * 16, "server")],
)
def test_span_rejects_malformed_fields(trace_id: str, span_id: str, kind: str) -> None:
    with pytest.raises(ValueError, match="must be"):
        verification_span(trace_id, span_id, 1, kind=kind)


def test_arrival_query_refuses_anything_but_a_trace_id() -> None:
    with pytest.raises(ValueError, match="not a 128-bit"):
        arrival_query("x' OR 1=1 --")


# --------------------------------------------------------------------------- checks (on tests/data/cluster)


def on_cluster(*objects: dict[str, Any], stack: str = "dev") -> Context:
    """The dev cluster's objects (tests/data/cluster) as verify reads them, status included."""
    return Context(ObjectsView(objects or data.objects(), runtime=True), stack_settings(stack), stack)


def target(context: Context, stage: Stage = Stage.MESH) -> Target:
    return next(targets(stage, context.settings))


def test_istiod_ready() -> None:
    istiod = data.obj("istio-system", "Deployment", "istiod")
    context = on_cluster(istiod)
    assert datapath.istiod_ready(context, target(context)) == Result(True, "1/1 replicas ready")
    del istiod["status"]["readyReplicas"]  # the API server omits a zero count
    istiod["status"]["availableReplicas"] = 0
    assert datapath.istiod_ready(on_cluster(istiod), target(context)) == Result(
        False, "0/1 replicas ready", "kubectl -n istio-system describe deploy istiod"
    )
    missing = datapath.istiod_ready(on_cluster(data.obj("istio-system", "ConfigMap", "istio")), target(context))
    assert missing is not None and missing.detail == "no Deployment istiod in istio-system"
    rendered = Context(ObjectsView([istiod]), context.settings, "dev")
    assert datapath.istiod_ready(rendered, target(context)) is None, "a rendered stack has no status to read"


def test_mesh_provider_reads_the_live_mesh_config() -> None:
    """The chart merges meshConfig into its own mesh document; the check reads the result."""
    configmap = data.obj("istio-system", "ConfigMap", "istio")
    context = on_cluster(configmap)
    good = datapath.mesh_provider(context, target(context))
    assert good.ok and good.detail == f"signoz → {FQDN}:9411; default tracing providers ['signoz']"
    other = on_cluster(configmap, stack="remote")
    assert datapath.mesh_provider(other, target(other)) == Result(
        False,
        f"provider points at {FQDN}:9411, expected k8s-infra-otel-agent.signoz.svc.cluster.local:9411",
        "run `make up`; check istiod's mesh ConfigMap (meshConfig is read only at the top level of the values)",
    )
    renamed = yaml.safe_load(configmap["data"]["mesh"])
    renamed["extensionProviders"][0]["name"] = "zipkin"
    configmap["data"]["mesh"] = yaml.safe_dump(renamed)
    assert datapath.mesh_provider(on_cluster(configmap), target(context)).detail == (
        "no zipkin provider 'signoz' in the mesh config"
    )
    configmap = data.obj("istio-system", "ConfigMap", "istio")
    configmap["data"]["mesh"] = configmap["data"]["mesh"].replace("port: 9411", "port: 9412")
    assert datapath.mesh_provider(on_cluster(configmap), target(context)).detail == (
        f"provider points at {FQDN}:9412, expected {FQDN}:9411"
    )


def test_mesh_telemetry_and_peer_authentication() -> None:
    telemetry = data.obj("istio-system", "Telemetry", "mesh-default")
    policy = data.obj("istio-system", "PeerAuthentication", "default")
    dev, prod = on_cluster(telemetry, policy), on_cluster(telemetry, policy, stack="prod")
    assert datapath.mesh_telemetry(dev, target(dev)) == Result(True, "provider signoz, sampling 100 %")
    stale = datapath.mesh_telemetry(prod, target(prod))
    assert (stale.ok, stale.detail) == (False, "providers ['signoz'], sampling 100 %; expected signoz, 1 %")
    assert datapath.peer_authentication(dev, target(dev)) == Result(True, "mode PERMISSIVE")
    assert datapath.peer_authentication(prod, target(prod)).detail == "mode PERMISSIVE, expected STRICT"


def collector_service(*objects: dict[str, Any]) -> Result:
    context = on_cluster(*objects)
    return datapath.zipkin_service_check(context, target(context, Stage.COLLECTOR))


def test_collector_service_needs_the_port_and_ready_endpoints() -> None:
    service = data.obj("signoz", "Service", "signoz-otel-collector")
    slices = [data.obj("signoz", "EndpointSlice", "signoz-otel-collector-x7k2p")]
    assert collector_service(service, *slices).detail == "port 9411 with 1 ready endpoint(s)"
    service["spec"]["ports"] = [p for p in service["spec"]["ports"] if p["name"] != "zipkin"]
    assert collector_service(service, *slices).detail == (
        "Service signoz/signoz-otel-collector exposes [14250, 14268, 8081, 8082, 8888, 4317, 4318], not 9411"
    )
    service = data.obj("signoz", "Service", "signoz-otel-collector")
    slices[0]["endpoints"][0]["conditions"]["ready"] = False
    unready = collector_service(service, *slices)
    assert (unready.ok, unready.detail) == (False, "port 9411 has no ready endpoints")


def collector_pipeline(*objects: dict[str, Any]) -> Result:
    context = on_cluster(*objects)
    return datapath.zipkin_pipeline(context, target(context, Stage.COLLECTOR))


def test_collector_config_needs_zipkin_in_traces_behind_memory_limiter() -> None:
    """Read from the ConfigMap the Deployment the Service selects mounts, as the charts render them."""
    service = data.obj("signoz", "Service", "signoz-otel-collector")
    deployment = data.obj("signoz", "Deployment", "signoz-otel-collector")
    configmap = data.obj("signoz", "ConfigMap", "signoz-otel-collector")
    assert collector_pipeline(service, deployment, configmap).detail == (
        "Deployment signoz-otel-collector: traces receivers ['otlp', 'jaeger', 'zipkin'], memory_limiter first"
    )
    key = "otel-collector-config.yaml"
    configmap["data"][key] = configmap["data"][key].replace("      - zipkin\n", "")
    assert collector_pipeline(service, deployment, configmap).detail == (
        "Deployment signoz-otel-collector: the traces pipeline receives ['otlp', 'jaeger'], not zipkin"
    )
    config = yaml.safe_load(data.obj("signoz", "ConfigMap", "signoz-otel-collector")["data"][key])
    config["service"]["pipelines"]["traces"]["processors"].remove("memory_limiter")
    configmap["data"][key] = yaml.safe_dump(config)
    assert collector_pipeline(service, deployment, configmap).detail == (
        "Deployment signoz-otel-collector: the traces processors start with resource/mesh-tracing, not memory_limiter"
    )
    deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] = "other"
    assert collector_pipeline(service, deployment, configmap).detail == (
        "Service signoz/signoz-otel-collector selects no workload with a collector config"
    )


def test_namespace_label() -> None:
    namespace = data.load("namespaces/namespace-otel-demo.yaml")
    dev, edge = on_cluster(namespace), on_cluster(namespace, stack="edge")
    assert datapath.namespace_label(dev, target(dev, Stage.NAMESPACES)) == Result(True, "istio-injection=enabled")
    label = datapath.namespace_label(edge, replace(target(edge, Stage.NAMESPACES), namespace="otel-demo"))
    assert (label.ok, label.detail) == (False, "istio.io/rev=None")
    missing = datapath.namespace_label(on_cluster(namespace), replace(target(dev, Stage.NAMESPACES), namespace="app"))
    assert (missing.ok, missing.detail) == (False, "namespace app does not exist")


def test_pods_without_sidecar_are_grouped_by_workload() -> None:
    pods = data.pods(*data.MESHED_PODS, *data.FINISHED_PODS, *data.UNMESHED_PODS, *data.OPTED_OUT_PODS)
    assert sidecars.survey_sidecars(pods).missing == {
        ("Deployment", "api"): ["api-5c4d8f9b7-h6j2k"],
        ("Deployment", "reports"): ["reports-8d9c7b6a5-p4o3i"],
        ("StatefulSet", "cache"): ["cache-0"],
        ("Pod", "debug"): ["debug"],
    }
    result = datapath.sidecars_of(pods, "dev")
    assert result.detail == (
        "without sidecar: Deployment/api (1 pod(s)), Deployment/reports (1 pod(s)), Pod/debug (1 pod(s)), "
        "StatefulSet/cache (1 pod(s)); left alone by the injector: DaemonSet/node-agent (hostNetwork: true), "
        'Deployment/batch (sidecar.istio.io/inject: "false" annotation), '
        'Deployment/legacy (sidecar.istio.io/inject: "false" label)'
    )


def test_pods_the_injector_leaves_alone_do_not_fail_the_check() -> None:
    """Istio never injects hostNetwork pods nor opted-out ones: restarting them changes nothing."""
    result = datapath.sidecars_of(data.pods(*data.MESHED_PODS, *data.OPTED_OUT_PODS), "dev")
    assert result == Result(
        True,
        "every running pod has istio-proxy; left alone by the injector: DaemonSet/node-agent (hostNetwork: true), "
        'Deployment/batch (sidecar.istio.io/inject: "false" annotation), '
        'Deployment/legacy (sidecar.istio.io/inject: "false" label)',
    )
    assert datapath.sidecars_of(data.pods(*data.MESHED_PODS), "dev").detail == "every running pod has istio-proxy"


def _pod_with(labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None, **spec: Any) -> Any:
    pod = data.obj("otel-demo", "Pod", "api-5c4d8f9b7-h6j2k")
    pod["metadata"]["labels"].update(labels or {})
    pod["metadata"]["annotations"] = annotations or {}
    pod["spec"].update(spec)
    return pod


@pytest.mark.parametrize(
    ("labels", "annotations", "spec", "reason"),
    [
        ({}, {}, {}, None),
        ({}, {}, {"hostNetwork": True}, "hostNetwork: true"),
        ({"sidecar.istio.io/inject": "true"}, {}, {"hostNetwork": True}, "hostNetwork: true"),
        ({"sidecar.istio.io/inject": "false"}, {}, {}, 'sidecar.istio.io/inject: "false" label'),
        ({}, {"sidecar.istio.io/inject": "false"}, {}, 'sidecar.istio.io/inject: "false" annotation'),
        ({"sidecar.istio.io/inject": "true"}, {"sidecar.istio.io/inject": "false"}, {}, None),  # the label wins
        (
            {"sidecar.istio.io/inject": "false"},
            {"sidecar.istio.io/inject": "true"},
            {},
            'sidecar.istio.io/inject: "false" label',
        ),
        ({"sidecar.istio.io/inject": ""}, {"sidecar.istio.io/inject": "false"}, {}, None),  # an empty label hides it
        ({"sidecar.istio.io/inject": "False"}, {}, {}, None),  # only "true"/"false" count: default policy
        ({}, {"sidecar.istio.io/inject": "no"}, {}, None),
    ],
)
def test_injector_exclusions_follow_istio(
    labels: dict[str, str], annotations: dict[str, str], spec: dict[str, Any], reason: str | None
) -> None:
    assert sidecars.injector_skips(_pod_with(labels, annotations, **spec)) == reason


@pytest.mark.parametrize(
    ("namespace", "reason"),
    [
        ("kube-system", "namespace kube-system, which the injector ignores"),
        ("local-path-storage", "namespace local-path-storage, which the injector ignores"),
        ("istio-system", None),
    ],
)
def test_the_injectors_ignored_namespaces(namespace: str, reason: str | None) -> None:
    pod = _pod_with()
    pod["metadata"]["namespace"] = namespace
    assert sidecars.injector_skips(pod) == reason


def test_round_trip_check() -> None:
    expected = {"deployment.environment": "dev", "k8s.cluster.name": "dev-kind"}
    arrived = Arrival(VERIFY_SERVICE, "mesh-tracing verify", dict(expected), 4.2)
    assert checks.round_trip(arrived, expected, 60).detail == "arrived after 4.2 s with 2 resource attributes"
    unlabelled = Arrival(VERIFY_SERVICE, "x", {}, 1.0)
    assert not checks.round_trip(unlabelled, expected, 60).ok
    assert checks.round_trip(None, expected, 60).detail == "the span did not reach ClickHouse within 60 s"


# --------------------------------------------------------------------------- restart and retention


def test_restart_patch_matches_kubectl_rollout_restart() -> None:
    """kubectl writes time.Now().Format(time.RFC3339): whole seconds, local offset, Z for UTC."""
    now = datetime(2026, 11, 25, 13, 0, 5, 987654, tzinfo=UTC)
    assert restart_patch(now) == {
        "spec": {
            "template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-25T13:00:05Z"}}}
        }
    }
    assert kubectl_timestamp(now.astimezone(timezone(timedelta(hours=2)))) == "2026-11-25T15:00:05+02:00"
    assert kubectl_timestamp(now.astimezone(timezone(timedelta(hours=-5, minutes=-30)))) == (
        "2026-11-25T07:30:05-05:30"
    )
    with pytest.raises(ValueError, match="time zone"):
        kubectl_timestamp(datetime(2026, 11, 25))


def test_paused_deployments_are_not_restarted() -> None:
    now = datetime(2026, 11, 25, 13, 0, 5, tzinfo=UTC)
    paused = refusal("Deployment", "otel-demo", "api", data.obj("otel-demo", "Deployment", "api"), now)
    assert paused == Refusal(
        "Deployment/api is paused: not restarted (kubectl: can't restart paused deployment)",
        "kubectl -n otel-demo rollout resume deployment/api, then run again",
    )
    reports = data.obj("otel-demo", "Deployment", "reports")
    assert refusal("Deployment", "otel-demo", "reports", reports, now) is None
    cache = data.obj("otel-demo", "StatefulSet", "cache")
    cache["spec"]["paused"] = True  # not a StatefulSet field: only Deployments pause
    assert refusal("StatefulSet", "otel-demo", "cache", cache, now) is None
    reports["spec"]["template"]["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/restartedAt": "2026-11-25T13:00:05Z"
    }
    same_second = refusal("Deployment", "otel-demo", "reports", reports, now)
    assert same_second is not None and same_second.fix == "run again in a second"
    assert refusal("Deployment", "otel-demo", "gone", None, now) == Refusal(
        "Deployment/gone no longer exists", "nothing to restart; its pods go with it"
    )


def _retention(signoz: FakeSigNoz, days: int = 7, key: str = "admin-key", **options: Any) -> RetentionResult:
    ticks = iter(range(0, 10_000, 3))
    return set_retention(
        signoz, key, days, namespace="signoz", clock=lambda: float(next(ticks)), interval_seconds=3, **options
    )


def test_retention_is_requested_then_applied_in_the_background() -> None:
    """SigNoz answers the POST before it records anything: an immediate re-read shows the old hours and
    `success`, so without --wait the tool says "requested", never "set"."""
    signoz = FakeSigNoz()
    result = _retention(signoz)
    assert result.outcome is Outcome.REQUESTED and result.outcome.exit_code == 0
    assert result.message.startswith("trace retention requested 168 h (7 days) (ClickHouse had 360 h (15 days))")
    assert [c[0] for c in signoz.calls] == ["GET", "POST"]
    assert signoz.calls[1] == ("POST", {"type": "traces", "duration": "168h"})
    assert read_ttl(signoz, {"SIGNOZ-API-KEY": "admin-key"}) == TtlState(360, None, "success"), "nothing visible yet"
    assert read_ttl(signoz, {"SIGNOZ-API-KEY": "admin-key"}) == TtlState(360, 168, "pending")
    assert read_ttl(signoz, {"SIGNOZ-API-KEY": "admin-key"}) == TtlState(168, 168, "success")
    again = _retention(signoz)
    assert (again.outcome, again.message) == (
        Outcome.ALREADY,
        "trace retention is already 168 h (7 days) in ClickHouse",
    )
    assert [c[0] for c in signoz.calls[-1:]] == ["GET"]


def test_retention_wait_polls_until_clickhouse_has_it() -> None:
    signoz = FakeSigNoz()
    result = _retention(signoz, wait=True)
    assert result.outcome is Outcome.DONE
    assert result.state == TtlState(168, 168, "success")
    assert result.message == (
        "trace retention requested 168 h (7 days) (ClickHouse had 360 h (15 days)); done after 9 s: "
        "168 h (7 days) in ClickHouse, status success"
    )
    assert [c[0] for c in signoz.calls] == ["GET", "POST", "GET", "GET", "GET"]


def test_a_change_stuck_pending_is_explained_not_retried_forever() -> None:
    """SigNoz restarts after inserting the pending rows: GET says pending for good (SigNoz/signoz#1831)."""
    signoz = FakeSigNoz()
    _retention(signoz)
    signoz.work.pop(0)()  # the goroutines insert their pending rows …
    signoz.restart()  # … and die with the pod
    stuck = _retention(signoz, wait=True, timeout_seconds=9)
    assert stuck.outcome is Outcome.TIMEOUT and stuck.outcome.exit_code == 1
    assert stuck.message.startswith(
        "trace retention 168 h (7 days) was already requested and is pending; not in ClickHouse after 9 s "
        "(360 h (15 days) in ClickHouse, status pending)."
    )
    assert "ttl_setting" in stuck.message and "SigNoz/signoz#1831" in stuck.message
    assert "UPDATE ttl_setting SET status='failed'" in stuck.message
    assert "POST" not in [c[0] for c in signoz.calls[2:]], "no second request on top of a pending one"
    other = _retention(signoz, days=30)
    assert other.outcome is Outcome.PENDING
    assert other.message.startswith(
        "nothing requested: SigNoz reports a change to 168 h (7 days) as pending (360 h (15 days) in ClickHouse, "
        "status pending)."
    )
    for row in signoz.rows:  # the cure the message gives
        row["status"] = "failed"
    assert _retention(signoz, days=30, wait=True).outcome is Outcome.DONE


def test_a_409_is_explained() -> None:
    """SigNoz's own pending trace rows never cause a 409 (it checks distributed names, writes local
    ones); a pending row stored under a distributed name does."""
    signoz = FakeSigNoz()
    signoz.add_row("signoz_traces.distributed_signoz_index_v3", 720 * 3600, "pending")
    result = _retention(signoz)
    assert result.outcome is Outcome.CONFLICT and result.outcome.exit_code == 1
    assert result.message.startswith("SigNoz answered 409 (TTL is already running)")
    assert "ttl_setting" in result.message


def test_own_pending_trace_rows_do_not_block_a_post_at_v0131() -> None:
    signoz = FakeSigNoz()
    signoz.add_row("signoz_traces.signoz_index_v3", 720 * 3600, "pending")
    assert (
        signoz("POST", "/api/v1/settings/ttl", {"type": "traces", "duration": "168h"}, {"SIGNOZ-API-KEY": "admin-key"})[
            0
        ]
        == 200
    )


def test_a_failed_alter_is_reported() -> None:
    signoz = FakeSigNoz(alter_fails=True)
    result = _retention(signoz, wait=True)
    assert result.outcome is Outcome.FAILED
    assert result.state == TtlState(360, 168, "failed")
    assert "'Error in executing set TTL query'" in result.message


def test_refused_keys_say_where_keys_are_made() -> None:
    with pytest.raises(RetentionError, match=r"HTTP 403: only admins.*Admin role \(Settings → Service Accounts\)"):
        _retention(FakeSigNoz(), key="viewer-key")
    with pytest.raises(RetentionError, match=r"HTTP 401\): the key is unknown, revoked or expired"):
        _retention(FakeSigNoz(), key="nobody")


# --------------------------------------------------------------------------- sidecar spans


def test_mesh_spans_pass_lists_services() -> None:
    rows = [{"service": f"s{i}.otel-demo", "spans": 10 - i} for i in range(7)]
    result = checks.mesh_spans(rows, "dev", 15, 100, sidecars_missing=False, stack="dev")
    assert result == Result(
        True,
        "49 span(s) from 7 service(s) in the last 15 min: s0.otel-demo (10), s1.otel-demo (9), s2.otel-demo (8), "
        "s3.otel-demo (7), s4.otel-demo (6) and 2 more",
    )


def test_mesh_spans_fail_leads_with_the_likeliest_cause() -> None:
    unsampled = checks.mesh_spans([], "dev", 15, 0, sidecars_missing=True, stack="dev")
    assert not unsampled.ok
    assert unsampled.fix.startswith("likely causes: samplingPercent is 0: nothing is sampled (samplingPercent or")
    unmeshed = checks.mesh_spans([], "dev", 15, 1, sidecars_missing=True, stack="dev")
    assert unmeshed.fix.startswith("likely causes: pods without sidecars, as found above (see the sidecars check")
    quiet = checks.mesh_spans([], "dev", 15, 1, sidecars_missing=False, stack="dev")
    assert quiet.fix.startswith("likely causes: no requests reached meshed pods in that time")


def test_mesh_spans_query_refuses_anything_but_an_environment_name() -> None:
    with pytest.raises(ValueError, match="not an environment name"):
        mesh_spans_query("dev' OR 1=1 --", 15)
    with pytest.raises(ValueError, match="from 1 to 1440"):
        mesh_spans_query("dev", 0)


def test_the_demo_namespace_is_checked_like_a_traced_one() -> None:
    demo = stack_settings("demo")
    assert list(revisions.meshed_namespaces(demo)) == [*(t.name for t in demo.traced_namespaces), "mesh-tracing-demo"]
    assert "mesh-tracing-demo" not in revisions.meshed_namespaces(stack_settings("dev"))
