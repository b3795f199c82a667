"""verify, restart and set-retention end to end: the real Kubernetes client over HTTP to a fake API
server on loopback, and a real embedded ClickHouse (chdb) with SigNoz's trace table columns."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.stack import StackSettings
from meshtools import postdeploy
from meshtools.cli import run_command
from meshtools.clusterview import ObjectsView
from meshtools.postdeploy import Check, Context, Stage
from meshtools.verify import cli
from meshtools.verify.clickhouse import wait_for_trace
from meshtools.verify.cluster import ClusterError, KubeCluster, LiveView
from meshtools.verify.restart import RESTARTED_AT
from meshtools.verify.span import new_trace_id
from tests.conftest import TEST_STACKS, stack_settings
from tests.support import cluster_data as data
from tests.support.fake_apiserver import FakeApiServer, Reply, Request, serve
from tests.support.fake_signoz import FakeSigNoz
from tests.support.signoz_store import insert_span, signoz_clickhouse
from tests.test_rendered import _collector_config, mutated

# What verify checks on the dev test stack, in order: the last two read ClickHouse.
DEV_CHECKS = [
    "istiod ready",
    "mesh config Zipkin provider",
    "mesh Telemetry",
    "mesh PeerAuthentication",
    "collector Service",
    "collector traces pipeline",
    "namespace otel-demo injection label",
    "namespace otel-demo sidecars",
    "namespace otel-demo proxy revisions",
    "span round trip",
    "sidecar spans",
]
PASSWORD = "dev-test-clickhouse-password"  # what the rendered collector Deployment carries

# ClickHouse's HTTP answers (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp, sendExceptionToHTTPClient.cpp):
# AUTHENTICATION_FAILED (516) is 403 — also for an address the user may not connect from, which
# AccessControl::authenticate reports as 516 too —; UNKNOWN_TABLE (60) and UNKNOWN_DATABASE (81)
# are 404; the code travels in X-ClickHouse-Exception-Code and a plain-text body.
AUTHENTICATION_FAILED: Reply = (
    403,
    b"Code: 516. DB::Exception: admin: Authentication failed: password is incorrect, or there is no user with "
    b"such name. (AUTHENTICATION_FAILED)\n",
    {"X-ClickHouse-Exception-Code": "516"},
)
UNKNOWN_TABLE: Reply = (
    404,
    b"Code: 60. DB::Exception: Unknown table expression identifier 'signoz_traces.distributed_signoz_index_v3' "
    b"in scope SELECT serviceName FROM signoz_traces.distributed_signoz_index_v3. (UNKNOWN_TABLE)\n",
    {"X-ClickHouse-Exception-Code": "60"},
)
PROXY_FORBIDDEN: Reply = (
    403,
    {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'services "signoz-clickhouse:8123" is forbidden: User "dev" cannot create resource '
        '"services/proxy" in API group "" in the namespace "signoz"',
        "reason": "Forbidden",
        "details": {"name": "signoz-clickhouse:8123", "kind": "services"},
        "code": 403,
    },
)

# What the API server answers when its connection to the pod goes unanswered (a NetworkPolicy drops
# it): the proxy's dial error as a 503 Status.
PROXY_DIAL_TIMEOUT: Reply = (
    503,
    {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "error trying to reach service: dial tcp 10.244.0.12:8123: i/o timeout",
        "reason": "ServiceUnavailable",
        "code": 503,
    },
)


@pytest.fixture
def clickhouse() -> Iterator[Any]:
    with signoz_clickhouse() as session:
        yield session


def insert_sidecar_span(clickhouse: Any, workload: str, *, environment: str = "dev", minutes_ago: int = 0) -> None:
    """A SERVER span of an Envoy sidecar as it lands in SigNoz: the tags Envoy sets (component=proxy,
    http.*, upstream_cluster, node_id), Istio's (istio.*) and the mesh Telemetry's literals, all in
    attributes_string; service `<app>.<namespace>` (Istio's default tracing service name)."""
    attributes = {
        "component": "proxy",
        "environment": environment,
        "cluster": "dev-kind",
        "istio.canonical_service": workload,
        "istio.canonical_revision": "v1",
        "istio.mesh_id": "cluster.local",
        "istio.namespace": "otel-demo",
        "node_id": f"sidecar~10.244.0.51~{workload}-7d9f5c6b8-x2k4p.otel-demo~otel-demo.svc.cluster.local",
        "upstream_cluster": "inbound|8080||",
        "http.method": "GET",
        "http.url": f"http://{workload}.otel-demo:8080/",
        "http.status_code": "200",
        "response_flags": "-",
    }
    resources = {"deployment.environment": environment, "k8s.cluster.name": "dev-kind"}
    name = f"{workload}.otel-demo.svc.cluster.local:8080/*"
    insert_span(clickhouse, new_trace_id(), f"{workload}.otel-demo", resources, attributes, name=name,
                minutes_ago=minutes_ago)  # fmt: skip


# --------------------------------------------------------------------------- polling ClickHouse


def test_wait_for_trace_not_yet_then_arrived(clickhouse: Any) -> None:
    trace_id = new_trace_id()
    polls: list[float] = []

    def query(sql: str) -> str:
        return str(clickhouse.query(sql))

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 2:  # the collector's batch lands after the second poll
            insert_span(clickhouse, trace_id, "mesh-tracing-verify", {"deployment.environment": "dev"})

    ticks = iter(range(100))
    arrival = wait_for_trace(
        query, trace_id, timeout_seconds=30, interval_seconds=5, clock=lambda: float(next(ticks)), sleep=sleep
    )
    assert arrival is not None
    assert (arrival.service, arrival.name) == ("mesh-tracing-verify", "mesh-tracing verify")
    assert arrival.resources == {"deployment.environment": "dev", "service.name": "mesh-tracing-verify"}
    assert polls == [5, 5]


def test_wait_for_trace_times_out(clickhouse: Any) -> None:
    insert_span(clickhouse, new_trace_id(), "someone-else", {})
    ticks = iter(range(0, 1000, 10))
    arrival = wait_for_trace(
        lambda sql: str(clickhouse.query(sql)),
        new_trace_id(),
        timeout_seconds=30,
        interval_seconds=10,
        clock=lambda: float(next(ticks)),
        sleep=lambda s: None,
    )
    assert arrival is None


# --------------------------------------------------------------------------- a fake cluster


def collector_resource_attributes() -> dict[str, str]:
    """What the deployed collector's resource processor upserts, read from its rendered ConfigMap."""
    configmap = data.obj("signoz", "ConfigMap", "signoz-otel-collector")
    config = yaml.safe_load(configmap["data"]["otel-collector-config.yaml"])
    return {a["key"]: a["value"] for a in config["processors"]["resource/mesh-tracing"]["attributes"]}


def deployed(api: FakeApiServer, clickhouse: Any, *, healthy: bool = True, reporting: bool | None = None) -> None:
    """A dev cluster (tests/data/cluster): the chart-rendered and hand-written objects; the collector
    is simulated with the resource processor of its rendered config, writing into ClickHouse after
    one poll."""
    api.json("/version", {"major": "1", "minor": "34"})
    api.add(*data.without_pods(data.objects()))
    api.add(*data.pods(*data.MESHED_PODS, *data.OPTED_OUT_PODS, *data.FINISHED_PODS))
    if not healthy:
        istiod = data.obj("istio-system", "Deployment", "istiod")
        istiod["status"] = {"observedGeneration": 1, "replicas": 1, "unavailableReplicas": 1}
        api.add(istiod, *data.pods(*data.UNMESHED_PODS))
    attributes = collector_resource_attributes()
    if healthy if reporting is None else reporting:  # the mesh has been reporting
        insert_sidecar_span(clickhouse, "web")
        insert_sidecar_span(clickhouse, "web", minutes_ago=3)
        insert_sidecar_span(clickhouse, "classic")
    pending: list[dict[str, Any]] = []

    def zipkin(request: Request) -> tuple[int, Any]:
        assert request.headers["content-type"] == "application/json"
        pending.extend(json.loads(request.body))
        return 202, b""

    def query(request: Request) -> Reply:
        if (request.headers.get("x-clickhouse-user"), request.headers.get("x-clickhouse-key")) != ("admin", PASSWORD):
            return AUTHENTICATION_FAILED
        result = str(clickhouse.query(request.body.decode()))
        if healthy:
            for span in pending:
                insert_span(clickhouse, span["traceId"], span["localEndpoint"]["serviceName"], attributes)
        pending.clear()
        return 200, result.encode()

    api.routes[("POST", "/api/v1/namespaces/signoz/services/signoz-otel-collector:9411/proxy/api/v2/spans")] = zipkin
    api.routes[("POST", "/api/v1/namespaces/signoz/services/signoz-clickhouse:8123/proxy/")] = query


@pytest.fixture
def dev_settings() -> StackSettings:
    return stack_settings("dev")


def run_cli(tmp_path: Path, api: FakeApiServer, *args: str, context: str = "kind-test") -> int:
    """The command as `make verify` runs it, against the test stacks; the kubeconfig holds the
    context the dev test stack names (kubernetes:context)."""
    argv = [*args, "--stacks-dir", str(TEST_STACKS), "--kubeconfig", str(api.kubeconfig(tmp_path, context))]
    return run_command(cli.main, argv)


def test_verify_passes_on_a_healthy_cluster(
    tmp_path: Path, clickhouse: Any, dev_settings: StackSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve(FakeApiServer()) as api:
        deployed(api, clickhouse)
        code = run_cli(
            tmp_path, api, "verify", "--stack", "dev", "--json", "--timeout", "10", "--poll-interval", "0.01"
        )
    results = json.loads(capsys.readouterr().out)
    assert code == 0, results
    assert [r["check"] for r in results] == DEV_CHECKS
    assert all(r["ok"] for r in results)
    assert (
        results[-1]["detail"]
        == "3 span(s) from 2 service(s) in the last 15 min: web.otel-demo (2), classic.otel-demo (1)"
    )
    assert results[-2]["detail"].endswith("with 4 resource attributes")
    bearer = {r.headers.get("authorization") for r in api.requests}
    assert bearer == {"Bearer test-token"}


def test_verify_fails_with_fixes_on_a_broken_cluster(
    tmp_path: Path, clickhouse: Any, dev_settings: StackSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve(FakeApiServer()) as api:
        deployed(api, clickhouse, healthy=False)
        code = run_cli(tmp_path, api, "verify", "--stack", "dev", "--timeout", "0.05", "--poll-interval", "0.01")
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL  istiod ready" in out
    assert (
        f"FAIL  {'namespace otel-demo sidecars':<35}  without sidecar: Deployment/api (1 pod(s)), "
        "Deployment/reports (1 pod(s)), Pod/debug (1 pod(s)), StatefulSet/cache (1 pod(s)); "
        "left alone by the injector: DaemonSet/node-agent (hostNetwork: true), "
        'Deployment/batch (sidecar.istio.io/inject: "false" annotation), '
        'Deployment/legacy (sidecar.istio.io/inject: "false" label)\n'
    ) in out
    assert "fix: make restart STACK=dev ARGS=--apply" in out, "the stack verified, ready to paste"
    assert "FAIL  span round trip" in out
    assert "FAIL  sidecar spans" in out
    assert "fix: likely causes: pods without sidecars, as found above (see the sidecars check;" in out
    assert out.rstrip().endswith("7 passed, 4 failed")


CLICKHOUSE_ROUTE = ("POST", "/api/v1/namespaces/signoz/services/signoz-clickhouse:8123/proxy/")
ALLOWED = "10.0.0.0/8, 100.64.0.0/10, 172.16.0.0/12, 192.0.0.0/24, 198.18.0.0/15, 192.168.0.0/16"


@pytest.mark.parametrize(
    "case",
    [
        (
            AUTHENTICATION_FAILED,
            PASSWORD,
            "ClickHouse answered 403 (code 516): user admin refused although its password matches: the API "
            f"server's address is outside the networks the chart lets admin in from ({ALLOWED})",
            "list the address the API server (or its Konnectivity agent) connects to pods from — or 0.0.0.0/0 — in "
            "the SigNoz chart value clickhouse.allowedNetworkIps (Helm replaces the list: repeat the ranges to keep)",
        ),
        (
            AUTHENTICATION_FAILED,
            "rotated-since",
            "ClickHouse answered 403 (code 516): user admin refused — the collector's CLICKHOUSE_PASSWORD differs "
            "from the ClickHouseInstallation's",
            "run `make up` (the chart writes both from the same value)",
        ),
        (
            UNKNOWN_TABLE,
            PASSWORD,
            "ClickHouse answered 404 (code 60): table missing — SigNoz's schema migration has not created it yet "
            "(Code: 60. DB::Exception: Unknown table expression identifier "
            "'signoz_traces.distributed_signoz_index_v3' in scope SELECT serviceName FROM "
            "signoz_traces.distributed_signoz_index_v3. (UNKNOWN_TABLE))",
            "on a first install, wait for Job signoz-telemetrystore-migrator to complete "
            "(kubectl -n signoz get jobs); if it failed, its logs say why",
        ),
        (
            PROXY_FORBIDDEN,
            PASSWORD,
            'the API server refused the service proxy to signoz-clickhouse: services "signoz-clickhouse:8123" is '
            'forbidden: User "dev" cannot create resource "services/proxy" in API group "" in the namespace "signoz"',
            "RBAC: your kube user needs `create` on services/proxy in signoz "
            "(kubectl auth can-i create services/proxy -n signoz)",
        ),
        (
            PROXY_DIAL_TIMEOUT,
            PASSWORD,
            "the API server could not connect to signoz-clickhouse: error trying to reach service: dial tcp "
            "10.244.0.12:8123: i/o timeout",
            "a NetworkPolicy may drop the API server's connections: list the addresses it connects to pods from in "
            "mesh-tracing:security.networkPolicies.apiServerCidrs (docs/security.md#make-verify-under-the-policies)",
        ),
    ],
    ids=["network-restriction", "wrong-password", "first-migration", "rbac", "network-policy"],
)
def test_a_clickhouse_refusal_fails_one_check_and_keeps_the_others(
    tmp_path: Path, clickhouse: Any, capsys: pytest.CaptureFixture[str], case: tuple[Reply, str, str, str]
) -> None:
    answer, installation_password, detail, fix = case
    with serve(FakeApiServer()) as api:
        deployed(api, clickhouse)
        api.routes[CLICKHOUSE_ROUTE] = answer
        installation = data.obj("signoz", "ClickHouseInstallation", "signoz-clickhouse")
        installation["spec"]["configuration"]["users"]["admin/password"] = installation_password
        api.add(installation)
        code = run_cli(tmp_path, api, "verify", "--stack", "dev", "--json", "--timeout", "1", "--poll-interval", "0.01")
    results = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [r["check"] for r in results if r["ok"]] == DEV_CHECKS[:-2], "all but the two ClickHouse checks"
    assert results[-2:] == [
        {"check": "span round trip", "ok": False, "detail": detail, "fix": fix},
        {"check": "sidecar spans", "ok": False, "detail": detail, "fix": fix},
    ]


def test_without_the_installation_both_auth_causes_are_named(
    tmp_path: Path, clickhouse: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve(FakeApiServer()) as api:
        deployed(api, clickhouse)
        api.routes[CLICKHOUSE_ROUTE] = AUTHENTICATION_FAILED
        api.remove("/apis/clickhouse.altinity.com/v1/namespaces/signoz/clickhouseinstallations/signoz-clickhouse")
        assert run_cli(tmp_path, api, "verify", "--stack", "dev", "--json", "--timeout", "1") == 1
    last = json.loads(capsys.readouterr().out)[-2]
    assert last["detail"] == (
        "ClickHouse answered 403 (code 516): user admin refused — a wrong password or an address outside the "
        "user's allowed networks; ClickHouse answers both alike (its log says which)"
    )
    assert last["fix"].startswith("check CLICKHOUSE_PASSWORD against the ClickHouseInstallation; if it matches, list")


def forbidden(message: str) -> Reply:
    return 403, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "code": 403}


def test_a_read_refused_by_rbac_fails_only_its_check(
    tmp_path: Path, clickhouse: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused get, and a refused list: the traces-pipeline check lists the Deployments of the
    collector's namespace to find the one its Service selects."""
    get = (
        'configmaps "istio" is forbidden: User "dev" cannot get resource "configmaps" in API group "" in the '
        'namespace "istio-system"'
    )
    listing = (
        'deployments.apps is forbidden: User "dev" cannot list resource "deployments" in API group "apps" in the '
        'namespace "signoz"'
    )
    with serve(FakeApiServer()) as api:
        deployed(api, clickhouse)
        api.routes[("GET", "/api/v1/namespaces/istio-system/configmaps/istio")] = forbidden(get)
        api.routes[("GET", "/apis/apps/v1/namespaces/signoz/deployments")] = forbidden(listing)
        code = run_cli(
            tmp_path, api, "verify", "--stack", "dev", "--json", "--timeout", "10", "--poll-interval", "0.01"
        )
    results = {r["check"]: r for r in json.loads(capsys.readouterr().out)}
    assert code == 1
    assert results["mesh config Zipkin provider"] == {
        "check": "mesh config Zipkin provider",
        "ok": False,
        "detail": f"GET /api/v1/namespaces/istio-system/configmaps/istio answered 403: {get}",
        "fix": "RBAC: your kube user may not get configmaps (kubectl auth can-i get configmaps -n istio-system)",
    }
    assert results["collector traces pipeline"]["fix"] == (
        "RBAC: your kube user may not list deployments (kubectl auth can-i list deployments -n signoz)"
    )
    assert [name for name, r in results.items() if not r["ok"]] == [
        "mesh config Zipkin provider",
        "collector traces pipeline",
    ]


def test_no_recent_sidecar_span_is_a_fail_that_says_why(
    tmp_path: Path, clickhouse: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Spans older than the window, of another environment, or not from a sidecar do not count."""
    with serve(FakeApiServer()) as api:
        deployed(api, clickhouse, reporting=False)
        insert_sidecar_span(clickhouse, "web", minutes_ago=20)
        insert_sidecar_span(clickhouse, "web", environment="production")
        insert_span(clickhouse, new_trace_id(), "app.otel-demo", {}, {"environment": "dev", "component": "grpc"})
        code = run_cli(
            tmp_path, api, "verify", "--stack", "dev", "--json", "--timeout", "0.05", "--poll-interval", "0.01",
            "--mesh-window", "10",
        )  # fmt: skip
    results = {r["check"]: r for r in json.loads(capsys.readouterr().out)}
    assert code == 1
    assert results["namespace otel-demo sidecars"]["ok"]
    assert results["sidecar spans"] == {
        "check": "sidecar spans",
        "ok": False,
        "detail": "no span from an Istio sidecar (component=proxy, istio.canonical_service) with environment=dev "
        "in the last 10 min",
        "fix": "likely causes: no requests reached meshed pods in that time (send some to a service in a traced "
        "namespace); pods without sidecars (see the sidecars check; make restart STACK=dev ARGS=--apply); "
        "sampling 0 % (samplingPercent or a namespace's override)",
    }


def test_missing_namespace_is_reported(tmp_path: Path, clickhouse: Any, dev_settings: StackSettings) -> None:
    with serve(FakeApiServer()) as api:
        deployed(api, clickhouse)
        api.remove("/api/v1/namespaces/otel-demo")
        cluster = KubeCluster.connect(kubeconfig=str(api.kubeconfig(tmp_path)))
        context = Context(LiveView(cluster), dev_settings, "dev")
        results = postdeploy.run(context, stages=[Stage.NAMESPACES])
    [label] = results  # nothing to say of the pods of a namespace that is not there
    assert (label.name, label.ok, label.detail) == (
        "namespace otel-demo injection label",
        False,
        "namespace otel-demo does not exist",
    )


def test_unreachable_cluster_is_a_clear_error(tmp_path: Path) -> None:
    api = FakeApiServer(url="http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(ClusterError, match=r"cluster of context 'fake' at http://127.0.0.1:9 is unreachable"):
        KubeCluster.connect(kubeconfig=str(api.kubeconfig(tmp_path)))


def test_wrong_context_lists_the_available_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeApiServer(url="http://127.0.0.1:9")
    code = run_cli(tmp_path, api, "verify", "--stack", "dev", "--context", "prod-admin")
    assert code == 2
    assert capsys.readouterr().err == "error: no kube context 'prod-admin'; available: kind-test\n"


def test_the_stacks_own_context_is_used(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The dev test stack names kind-test; a kubeconfig whose current context is another is not used."""
    api = FakeApiServer(url="http://127.0.0.1:9")
    assert run_cli(tmp_path, api, "verify", "--stack", "dev", context="laptop") == 2
    assert capsys.readouterr().err == "error: no kube context 'kind-test'; available: laptop\n"
    assert run_cli(tmp_path, api, "verify", "--stack", "dev", "--context", "laptop", context="laptop") == 2
    assert "cluster of context 'laptop' at http://127.0.0.1:9 is unreachable" in capsys.readouterr().err


def test_restart_is_a_dry_run_unless_applied(
    tmp_path: Path, clickhouse: Any, dev_settings: StackSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve(FakeApiServer()) as api:
        deployed(api, clickhouse, healthy=False)
        assert run_cli(tmp_path, api, "restart", "--stack", "dev") == 0
        assert not [r for r in api.requests if r.method == "PATCH"]
        dry_run = capsys.readouterr().out
        assert run_cli(tmp_path, api, "restart", "--stack", "dev", "--apply") == 1, "a paused Deployment was left"
        patches = [r for r in api.requests if r.method == "PATCH"]
        stored = api.objects["/apis/apps/v1/namespaces/otel-demo/deployments/reports"]
    applied = capsys.readouterr().out
    skipped = [
        "otel-demo: skipped DaemonSet/node-agent (1 pod(s)): hostNetwork: true; istiod never injects such pods",
        'otel-demo: skipped Deployment/batch (1 pod(s)): sidecar.istio.io/inject: "false" annotation; '
        "istiod never injects such pods",
        'otel-demo: skipped Deployment/legacy (1 pod(s)): sidecar.istio.io/inject: "false" label; '
        "istiod never injects such pods",
    ]
    paused = (
        "otel-demo: Deployment/api is paused: not restarted (kubectl: can't restart paused deployment); "
        "kubectl -n otel-demo rollout resume deployment/api, then run again (1 pod(s) without sidecar)"
    )
    no_controller = "otel-demo: Pod/debug has no controller to restart; delete the pod to re-create it"
    assert dry_run.splitlines() == [
        *skipped,
        paused,
        "otel-demo: would restart Deployment/reports (1 pod(s) without sidecar)",
        no_controller,
        "otel-demo: would restart StatefulSet/cache (1 pod(s) without sidecar)",
        "dry run: nothing was changed; add --apply to restart",
    ]
    assert applied.splitlines() == [
        *skipped,
        paused,
        "otel-demo: restarted Deployment/reports (1 pod(s) without sidecar)",
        no_controller,
        "otel-demo: restarted StatefulSet/cache (1 pod(s) without sidecar)",
    ]
    assert [p.path for p in patches] == [
        "/apis/apps/v1/namespaces/otel-demo/deployments/reports",
        "/apis/apps/v1/namespaces/otel-demo/statefulsets/cache",
    ]
    for patch in patches:
        assert patch.headers["content-type"] == "application/strategic-merge-patch+json"
        annotations = json.loads(patch.body)["spec"]["template"]["metadata"]["annotations"]
        assert list(annotations) == ["kubectl.kubernetes.io/restartedAt"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", annotations[RESTARTED_AT])
    assert stored["spec"]["template"]["metadata"]["annotations"] == annotations, "the patch reached the object"


TTL_PROXY = "/api/v1/namespaces/signoz/services/signoz:8080/proxy/api/v1/settings/ttl"


def serve_signoz(api: FakeApiServer, signoz: FakeSigNoz) -> None:
    """SigNoz behind the API server's service proxy (which passes status, body and query through)."""

    def ttl(request: Request) -> tuple[int, Any]:
        status, body = signoz(request.method, "/api/v1/settings/ttl", request.query, request.headers)
        return status, body.encode() if isinstance(body, str) else body

    for method in ("GET", "POST"):
        api.routes[(method, TTL_PROXY)] = ttl


def test_set_retention_waits_through_the_service_proxy(
    tmp_path: Path, clickhouse: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    signoz = FakeSigNoz()
    with serve(FakeApiServer()) as api:
        deployed(api, clickhouse)
        serve_signoz(api, signoz)
        monkeypatch.setenv("SIGNOZ_API_KEY", "admin-key")
        code = run_cli(tmp_path, api, "set-retention", "--stack", "dev", "--wait", "--poll-interval", "0.01")
    assert code == 0
    assert signoz.table_ttl["signoz_traces.signoz_index_v3"] == 168 * 3600, "dev keeps traces 7 days"
    out = capsys.readouterr().out
    assert out.startswith("trace retention requested 168 h (7 days) (ClickHouse had 360 h (15 days)); done after ")
    assert out.endswith("168 h (7 days) in ClickHouse, status success\n")


def test_set_retention_without_wait_says_requested(
    tmp_path: Path, clickhouse: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    signoz = FakeSigNoz()
    with serve(FakeApiServer()) as api:
        deployed(api, clickhouse)
        serve_signoz(api, signoz)
        monkeypatch.setenv("SIGNOZ_API_KEY", "admin-key")
        assert run_cli(tmp_path, api, "set-retention", "--stack", "dev") == 0
        assert capsys.readouterr().out.startswith(
            "trace retention requested 168 h (7 days) (ClickHouse had 360 h (15 days)); SigNoz applies it in the "
            "background"
        )
        signoz.settle()
        assert run_cli(tmp_path, api, "set-retention", "--stack", "dev") == 0
    assert capsys.readouterr().out == "trace retention is already 168 h (7 days) in ClickHouse\n"


def test_set_retention_stuck_pending_exits_1_with_the_way_out(
    tmp_path: Path, clickhouse: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    signoz = FakeSigNoz()
    signoz.rows = [
        {"table_name": f"signoz_traces.{t}", "ttl": 720 * 3600, "cold_storage_ttl": -1, "status": "pending"}
        for t in ("signoz_index_v3", "traces_v3_resource")
    ]
    with serve(FakeApiServer()) as api:
        deployed(api, clickhouse)
        serve_signoz(api, signoz)
        monkeypatch.setenv("SIGNOZ_API_KEY", "admin-key")
        assert run_cli(tmp_path, api, "set-retention", "--stack", "dev") == 1
    out = capsys.readouterr().out
    assert out.startswith("nothing requested: SigNoz reports a change to 720 h (30 days) as pending")
    assert "kubectl -n signoz get pod signoz-0" in out


def test_set_retention_refused_by_rbac_is_one_line(
    tmp_path: Path, clickhouse: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    forbidden = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": 'services "signoz:8080" is forbidden: User "dev" cannot get resource "services/proxy" in API '
        'group "" in the namespace "signoz"',
        "reason": "Forbidden",
        "code": 403,
    }
    with serve(FakeApiServer()) as api:
        deployed(api, clickhouse)
        api.routes[("GET", TTL_PROXY)] = (403, forbidden)
        monkeypatch.setenv("SIGNOZ_API_KEY", "admin-key")
        assert run_cli(tmp_path, api, "set-retention", "--stack", "dev") == 2
    err = capsys.readouterr().err
    assert err.startswith('error: the API server refused the service proxy to SigNoz (services "signoz:8080" is')
    assert err.endswith("needs `create` and `get` on services/proxy in the SigNoz namespace\n")
    assert err.count("\n") == 1


def test_set_retention_needs_an_api_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SIGNOZ_API_KEY", raising=False)
    with serve(FakeApiServer()) as api:
        api.json("/version", {})
        assert run_cli(tmp_path, api, "set-retention", "--stack", "dev") == 2
    assert capsys.readouterr().err == (
        "error: set SIGNOZ_API_KEY to the key of a SigNoz service account with the Admin role "
        "(SigNoz → Settings → Service Accounts → New Service Account, then Keys → Add Key)\n"
    )


def test_one_rule_fails_alike_on_the_cluster_and_on_the_rendered_stack(tmp_path: Path) -> None:
    """The data-path rules are written once (meshtools/datapath.py): a collector whose traces pipeline
    lost zipkin fails the same check with the same words read live, through the API server, from
    the objects the charts rendered for a cluster, and offline from the dev stack rendered now."""

    def drop(config: dict[str, Any]) -> None:
        config["service"]["pipelines"]["traces"]["receivers"].remove("zipkin")

    settings = stack_settings("dev")
    configmap = data.obj("signoz", "ConfigMap", "signoz-otel-collector")
    _collector_config(drop)(configmap)
    with serve(FakeApiServer()) as api:
        api.json("/version", {"major": "1", "minor": "34"})
        api.add(*data.without_pods(data.objects()), configmap)
        cluster = KubeCluster.connect(kubeconfig=str(api.kubeconfig(tmp_path)))
        live = postdeploy.run(Context(LiveView(cluster), settings, "dev"), stages=[Stage.COLLECTOR])
    objects = mutated("dev", "ConfigMap", "signoz-otel-collector", _collector_config(drop))
    offline = postdeploy.run(Context(ObjectsView(m.object for m in objects), settings, "dev"), offline=True)
    expected = Check(
        "collector traces pipeline",
        False,
        "Deployment signoz-otel-collector: the traces pipeline receives ['otlp', 'jaeger'], not zipkin",
        "run `make up` for this stack",
    )
    assert [r for r in live if not r.ok] == [expected]
    assert [r for r in offline if not r.ok] == [expected]
