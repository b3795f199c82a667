"""NetworkPolicies at the rendered level: every path the platform needs is admitted, and a sample of
paths that must not exist is admitted by nothing.

The rendered objects of each test stack (charts rendered, the program's own objects added) go through
the evaluator in tests/support/network_policy.py, which knows nothing of the program's settings: a
selector that misses its pods, a wrong port or a forgotten rule shows up as a refused path.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import pytest

from kube import network_policies
from meshtools.manifests import Manifest
from tests.conftest import TEST_STACK_NAMES, raw_settings, run_test_stack, stack_run, stack_settings
from tests.support.network_policy import Address, Cluster, Pod, pods_of, selects
from tests.support.rendered import rendered_objects

COLLECTOR = "Deployment signoz/signoz-otel-collector"
SIGNOZ = "StatefulSet signoz/signoz"
CLICKHOUSE = "ClickHouseInstallation signoz/signoz-clickhouse"
ZOOKEEPER = "StatefulSet signoz/signoz-zookeeper"
OPERATOR = "Deployment signoz/signoz-clickhouse-operator"
MIGRATOR = "Job signoz/signoz-telemetrystore-migrator"
KIALI = "Deployment istio-system/kiali"
ISTIOD = "Deployment istio-system/istiod"
AGENT = "DaemonSet signoz/k8s-infra-otel-agent"
API_SERVER = Address("10.0.0.5")  # inside the prod test stack's apiServerCidrs (10.0.0.0/28)
ELSEWHERE = Address("10.0.0.99")


@functools.cache
def rendered(stack: str) -> tuple[Manifest, ...]:
    return tuple(rendered_objects(stack_run(stack)))


@functools.cache
def cluster(stack: str) -> Cluster:
    return Cluster(rendered(stack))


def a_pod(namespace: str, labels: dict[str, str] | None = None) -> Pod:
    """Any pod of a namespace (an application pod of a traced namespace, an ingress controller…)."""
    return Pod(namespace, f"Pod {namespace}/any", labels or {"app": "any"})


# --------------------------------------------------------------------------- the prod test stack


@pytest.mark.parametrize(
    ("source", "target", "port"),
    [
        # The mesh's spans: sidecars of the traced namespaces, gateways, over Zipkin and OTLP.
        *[(a_pod(ns), COLLECTOR, port) for ns in ("otel-demo", "checkout") for port in (9411, 4317, 4318)],
        (a_pod("istio-ingress", {"app": "istio-ingress"}), COLLECTOR, 9411),
        (a_pod("istio-system"), COLLECTOR, 9411),
        # Other clusters' spans through the ingress controller (central ingest), the UI, Kiali.
        (a_pod("ingress-nginx"), COLLECTOR, 4319),
        (a_pod("ingress-nginx"), SIGNOZ, 8080),
        (a_pod("ingress-nginx"), KIALI, 20001),
        # SigNoz's own components to ClickHouse; replicas among themselves; ClickHouse to ZooKeeper.
        *[(name, CLICKHOUSE, port) for name in (SIGNOZ, COLLECTOR, MIGRATOR, OPERATOR) for port in (9000, 8123)],
        (CLICKHOUSE, CLICKHOUSE, 9009),
        (CLICKHOUSE, ZOOKEEPER, 2181),
        *[(ZOOKEEPER, ZOOKEEPER, port) for port in (2181, 2888, 3888)],
        (COLLECTOR, SIGNOZ, 4320),
        # make verify / set-retention through the API server's service proxy.
        (API_SERVER, COLLECTOR, 9411),
        (API_SERVER, CLICKHOUSE, 8123),
        (API_SERVER, SIGNOZ, 8080),
        # The external Prometheus (its Service in namespace monitoring) scrapes Kiali.
        (a_pod("monitoring"), KIALI, 9090),
        # istiod is left open to the mesh.
        (a_pod("checkout"), ISTIOD, 15012),
    ],
)
def test_prod_admits_every_path_the_platform_needs(source: Pod | Address | str, target: str, port: int) -> None:
    prod = cluster("prod")
    origin = prod.pod(source) if isinstance(source, str) else source
    assert prod.admits(origin, prod.pod(target), port)


@pytest.mark.parametrize(
    ("source", "target", "port"),
    [
        # A traced namespace reaches neither the store nor SigNoz's API.
        *[(a_pod("checkout"), CLICKHOUSE, port) for port in (8123, 9000, 9009)],
        (a_pod("checkout"), SIGNOZ, 8080),
        (a_pod("checkout"), COLLECTOR, 4319),
        (a_pod("checkout"), COLLECTOR, 8888),
        (a_pod("checkout"), OPERATOR, 8888),
        # Nothing but ClickHouse (and its peers) reaches ZooKeeper.
        *[(name, ZOOKEEPER, 2181) for name in (SIGNOZ, COLLECTOR, MIGRATOR, OPERATOR)],
        (a_pod("checkout"), ZOOKEEPER, 2181),
        (a_pod("signoz", {"app": "debug"}), ZOOKEEPER, 2181),
        (CLICKHOUSE, ZOOKEEPER, 2888),
        (API_SERVER, ZOOKEEPER, 2181),
        # A namespace outside the mesh, and a pod of SigNoz's namespace that is not SigNoz's.
        (a_pod("default"), COLLECTOR, 9411),
        (a_pod("signoz", {"app": "debug"}), CLICKHOUSE, 9000),
        (ZOOKEEPER, CLICKHOUSE, 9000),
        # The ingress controller reaches only what it serves.
        (a_pod("ingress-nginx"), COLLECTOR, 9411),
        (a_pod("ingress-nginx"), CLICKHOUSE, 8123),
        # The API server reaches only the ports the tools use; other addresses nothing.
        (API_SERVER, CLICKHOUSE, 9000),
        (API_SERVER, SIGNOZ, 4320),
        (ELSEWHERE, CLICKHOUSE, 8123),
        (ELSEWHERE, COLLECTOR, 9411),
        # Kiali: its metrics only to the Prometheus that scrapes it, its UI only through the ingress.
        (a_pod("checkout"), KIALI, 20001),
        (a_pod("checkout"), KIALI, 9090),
    ],
)
def test_prod_admits_nothing_else(source: Pod | Address | str, target: str, port: int) -> None:
    prod = cluster("prod")
    origin = prod.pod(source) if isinstance(source, str) else source
    assert not prod.admits(origin, prod.pod(target), port)


def test_every_pod_of_the_signoz_namespace_is_isolated() -> None:
    prod = cluster("prod")
    pods = [p for p in prod.pods if p.namespace == "signoz"]
    assert {p.workload for p in pods} >= {COLLECTOR, SIGNOZ, CLICKHOUSE, ZOOKEEPER, OPERATOR, MIGRATOR}
    assert [p.workload for p in pods if not prod.isolated(p)] == []


def test_each_policy_selects_the_pods_it_is_for() -> None:
    """No policy of the program is dead: its podSelector matches rendered pods of its namespace."""
    for stack in ("prod", "remote", "edge"):
        objects = rendered(stack)
        pods = pods_of(objects)
        ours = [m.object for m in objects if m.key[1] == "NetworkPolicy" and m.key[2].startswith("mesh-tracing-")]
        assert ours, stack
        for policy in ours:
            namespace = policy["metadata"]["namespace"]
            chosen = [p for p in pods if p.namespace == namespace and selects(policy["spec"]["podSelector"], p.labels)]
            assert chosen, f"{stack}: {policy['metadata']['name']} selects no pod"


def test_the_chart_policy_that_admits_anyone_to_kiali_is_replaced() -> None:
    prod_policies = {m.key for m in rendered("prod") if m.key[1] == "NetworkPolicy"}
    assert ("istio-system", "NetworkPolicy", "kiali") not in prod_policies
    assert ("istio-system", "NetworkPolicy", "mesh-tracing-kiali") in prod_policies
    assert ("istio-system", "NetworkPolicy", "kiali") in {m.key for m in rendered("dev")}, "dev keeps the chart's"


# --------------------------------------------------------------------------- other stacks


def test_remote_mode_admits_the_mesh_to_the_agent_only() -> None:
    remote = cluster("remote")
    agent = remote.pod(AGENT)
    assert remote.admits(a_pod("checkout"), agent, 9411)
    assert remote.admits(a_pod("istio-system"), agent, 9411)
    assert remote.admits(Address("10.0.0.1"), agent, 8888), "verify reads the agents' counters"
    assert not remote.admits(a_pod("default"), agent, 9411)
    assert not remote.admits(a_pod("checkout"), agent, 8888)
    assert not remote.admits(a_pod("checkout"), agent, 13133)


def test_edge_opts_in_outside_production_with_its_own_namespaces() -> None:
    edge = cluster("edge")
    collector = edge.pod("Deployment observability/signoz-otel-collector")
    for sender in ("legacy", "payments", "search", "plain", "edge-gateways", "istio-system", "batch-jobs"):
        assert edge.admits(a_pod(sender), collector, 4317), sender
    assert not edge.admits(a_pod("default"), collector, 4317)
    assert not edge.admits(a_pod("traefik"), collector, 4319), "no signoz.ingest: the ingest port stays closed"
    assert not edge.admits(a_pod("traefik"), edge.pod("StatefulSet observability/signoz"), 8080), "no uiHost"
    assert not edge.admits(Address("10.0.0.5"), collector, 9411), "no apiServerCidrs: the proxy is refused"
    prometheus = edge.pod("Deployment istio-system/prometheus-server")
    kiali = edge.pod(KIALI)
    assert edge.admits(kiali, prometheus, 9090)
    assert edge.admits(prometheus, kiali, 9090)
    assert not edge.admits(a_pod("legacy"), prometheus, 9090)
    assert not edge.admits(a_pod("traefik"), kiali, 20001), "no kiali.ingressHost"


@pytest.mark.parametrize("stack", sorted(set(TEST_STACK_NAMES) - {"prod", "remote", "edge"}))
def test_outside_production_no_policy_is_registered_unless_asked(stack: str) -> None:
    assert not [m for m in rendered(stack) if m.key[1] == "NetworkPolicy" and m.key[2].startswith("mesh-tracing-")]


def test_the_switch_turns_them_off_in_production() -> None:
    run = run_test_stack("prod", {"security": {"networkPolicies": {"enabled": False}}})
    assert not run.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    assert "network_policy" not in run.named("kiali-release").inputs["values"]["deployment"]


def test_policies_are_children_of_their_components() -> None:
    prod = stack_run("prod")
    found = {r.name: r.parent_name for r in prod.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")}
    assert found == {
        "signoz-mesh-tracing-default-deny": "signoz",
        "signoz-mesh-tracing-collector": "signoz",
        "signoz-mesh-tracing-signoz": "signoz",
        "signoz-mesh-tracing-clickhouse": "signoz",
        "signoz-mesh-tracing-zookeeper": "signoz",
        "kiali-mesh-tracing-kiali": "kiali",
    }
    assert "signoz-namespace" in prod.named("signoz-mesh-tracing-collector").dependency_names


def test_an_external_prometheus_outside_the_cluster_is_admitted_nowhere() -> None:
    outside = {"mode": "external", "url": "https://metrics.example.com"}
    run = run_test_stack("prod", {"kiali": raw_settings("prod")["kiali"] | {"prometheus": outside}})
    [kiali] = [p for p in run.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy") if p.name.endswith("kiali")]
    ingress_controllers = {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["ingress-nginx"]}
    assert kiali.inputs["spec"]["ingress"] == [
        {
            "from": [{"namespaceSelector": {"matchExpressions": [ingress_controllers]}}],
            "ports": [{"protocol": "TCP", "port": 20001}],
        }
    ], "the ingress only: no scraper to admit"


def test_enabled_follows_production_unless_set() -> None:
    assert network_policies.enabled(stack_settings("prod")), "production, unset"
    assert not network_policies.enabled(stack_settings("dev")), "dev, unset"
    assert network_policies.enabled(stack_settings("edge")), "staging, set"


# --------------------------------------------------------------------------- the evaluator can fail


def _with(stack: str, name: str, edit: Any) -> Cluster:
    objects = [Manifest(m.origin, copy.deepcopy(m.object)) for m in rendered(stack)]
    [target] = [m for m in objects if m.key[1] == "NetworkPolicy" and m.key[2] == name]
    edit(target.object["spec"])
    return Cluster(objects)


def test_a_dropped_rule_refuses_its_path() -> None:
    def drop_zookeeper_client(spec: dict[str, Any]) -> None:
        spec["ingress"] = [r for r in spec["ingress"] if r["ports"][0]["port"] != 2181 or len(r["ports"]) > 1]

    changed = _with("prod", "mesh-tracing-zookeeper", drop_zookeeper_client)
    assert not changed.admits(changed.pod(CLICKHOUSE), changed.pod(ZOOKEEPER), 2181)


def test_a_selector_that_misses_its_pods_leaves_them_to_the_default_deny() -> None:
    def misspell(spec: dict[str, Any]) -> None:
        spec["podSelector"]["matchLabels"]["app.kubernetes.io/component"] = "otel-colector"

    changed = _with("prod", "mesh-tracing-collector", misspell)
    assert changed.isolated(changed.pod(COLLECTOR)), "the default deny still selects it"
    assert not changed.admits(a_pod("checkout"), changed.pod(COLLECTOR), 9411)


def test_ports_by_name_resolve_against_the_destination_pod() -> None:
    def by_name(spec: dict[str, Any]) -> None:
        spec["ingress"] = [{"from": [{"namespaceSelector": {}}], "ports": [{"port": "zipkin"}]}]

    changed = _with("prod", "mesh-tracing-collector", by_name)
    assert changed.admits(a_pod("anywhere"), changed.pod(COLLECTOR), 9411)
    assert not changed.admits(a_pod("anywhere"), changed.pod(COLLECTOR), 4317)


def test_an_ip_block_exception_is_refused() -> None:
    def carve(spec: dict[str, Any]) -> None:
        for ingress_rule in spec["ingress"]:
            for peer in ingress_rule["from"]:
                if "ipBlock" in peer:
                    peer["ipBlock"]["except"] = ["10.0.0.4/30"]

    changed = _with("prod", "mesh-tracing-clickhouse", carve)
    assert not changed.admits(API_SERVER, changed.pod(CLICKHOUSE), 8123)
    assert changed.admits(Address("10.0.0.1"), changed.pod(CLICKHOUSE), 8123)


def test_with_tail_sampling_the_mesh_reaches_the_router_and_the_router_the_collector() -> None:
    """The tail test stack with policies on: sidecars → router (Zipkin), router → collector (OTLP/gRPC)."""
    on = {"security": {"networkPolicies": {"enabled": True, "apiServerCidrs": ["10.0.0.0/28"]}}}
    tail = Cluster(tuple(rendered_objects(run_test_stack("tail", on))))
    router = tail.pod("Deployment signoz/signoz-trace-router")
    collector = tail.pod(COLLECTOR)
    assert tail.admits(a_pod("checkout"), router, 9411)
    assert tail.admits(API_SERVER, router, 9411), "verify posts its span to the router"
    assert tail.admits(router, collector, 4317)
    assert not tail.admits(a_pod("default"), router, 9411)
    assert not tail.admits(router, tail.pod(CLICKHOUSE), 9000), "the router stores nothing itself"
    assert not tail.admits(a_pod("checkout"), router, 8888)
