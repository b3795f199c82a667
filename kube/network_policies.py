"""Who may reach the platform's pods: ingress NetworkPolicies, computed from settings alone.

Policies are on by default in production (`security.networkPolicies.enabled` unset) and optional
elsewhere. They only ever restrict *ingress*, and only in the namespaces the program runs workloads
in: the SigNoz namespace denies every connection by default and then admits each path SigNoz needs
(the mesh to the collector's receivers, SigNoz's own components to ClickHouse, ClickHouse to
ZooKeeper, the ingress controller to the UI and the ingest port); in remote mode the agent's
namespace admits the mesh to its Zipkin receiver; in the Istio namespace Kiali and the deployed
Prometheus admit only their clients. Traced namespaces and istiod are left alone.

Namespaces are selected by `kubernetes.io/metadata.name`, the label the API server sets on every
namespace. The API server's own service proxy (`make verify`, `make set-retention`) connects from
the control plane's addresses, which a NetworkPolicy can only name as an ipBlock: those come from
`security.networkPolicies.apiServerCidrs` and are admitted to exactly the ports the tools use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from config.kiali import DeployedPrometheus
from config.signoz import DeploySigNoz
from config.stack import StackSettings
from kube import naming, revisions

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
NAME_PREFIX = "mesh-tracing-"

# Ports of the pods (NetworkPolicy ports are the pods' ports, not the Services').
SIGNOZ_OPAMP_PORT = 4320
CLICKHOUSE_NATIVE_PORT = 9000
CLICKHOUSE_INTERSERVER_PORT = 9009
ZOOKEEPER_CLIENT_PORT = 2181
ZOOKEEPER_PEER_PORTS = (2888, 3888)
KIALI_METRICS_PORT = 9090
PROMETHEUS_PORT = 9090
# The receivers the mesh (and senders) may reach on the collector.
RECEIVER_PORTS = (naming.ZIPKIN_PORT, naming.OTLP_GRPC_PORT, naming.OTLP_HTTP_PORT)

# The signoz chart's components, by `app.kubernetes.io/name` and `app.kubernetes.io/component`.
SIGNOZ = ("signoz", "signoz")
COLLECTOR = ("signoz", "otel-collector")
MIGRATOR = ("signoz", "signoz-telemetrystore-migrator")
CLICKHOUSE = ("clickhouse", "clickhouse")
OPERATOR = ("clickhouse", "operator")
ZOOKEEPER = ("zookeeper", "zookeeper")
# Who may query ClickHouse: SigNoz's own components that read or write the stored telemetry.
CLICKHOUSE_CLIENTS = (SIGNOZ, COLLECTOR, MIGRATOR, OPERATOR, CLICKHOUSE)

KIALI_LABELS = {"app.kubernetes.io/name": "kiali", "app.kubernetes.io/instance": naming.KIALI_RELEASE}
PROMETHEUS_LABELS = {
    "app.kubernetes.io/name": "prometheus",
    "app.kubernetes.io/instance": naming.PROMETHEUS_RELEASE,
    "app.kubernetes.io/component": "server",
}


@dataclass(frozen=True)
class Policy:
    """One NetworkPolicy: its name, namespace and spec (ingress only)."""

    name: str
    namespace: str
    spec: dict[str, Any]


def enabled(settings: StackSettings) -> bool:
    """As `security.networkPolicies.enabled` says; unset, on in production (the production decision)."""
    chosen = settings.security.network_policies.enabled
    return settings.is_production if chosen is None else chosen


# --------------------------------------------------------------------------- peers, ports, rules


def namespaces(names: Iterable[str]) -> dict[str, Any]:
    """A peer: every pod of the named namespaces."""
    return {
        "namespaceSelector": {
            "matchExpressions": [{"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": sorted(set(names))}]
        }
    }


def pods(labels: Mapping[str, str]) -> dict[str, Any]:
    """A peer: the pods of the policy's own namespace that carry `labels`."""
    return {"podSelector": {"matchLabels": dict(labels)}}


def signoz_component(component: tuple[str, str]) -> dict[str, str]:
    name, part = component
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": naming.SIGNOZ_RELEASE,
        "app.kubernetes.io/component": part,
    }


def _components(components: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """A peer: the pods of the signoz release that belong to one of `components`."""
    return {
        "podSelector": {
            "matchLabels": {"app.kubernetes.io/instance": naming.SIGNOZ_RELEASE},
            "matchExpressions": [
                {"key": "app.kubernetes.io/component", "operator": "In", "values": sorted({c[1] for c in components})}
            ],
        }
    }


def api_server(settings: StackSettings) -> list[dict[str, Any]]:
    """Peers: the API server's addresses (its service and pod proxies)."""
    return [{"ipBlock": {"cidr": cidr}} for cidr in settings.security.network_policies.api_server_cidrs]


def rule(peers: list[dict[str, Any]], ports: Iterable[int]) -> list[dict[str, Any]]:
    """One ingress rule, or none when nobody is admitted (an empty `from` would admit everyone)."""
    if not peers:
        return []
    return [{"from": peers, "ports": [{"protocol": "TCP", "port": port} for port in ports]}]


def policy(name: str, namespace: str, selector: Mapping[str, str], rules: list[dict[str, Any]]) -> Policy:
    return Policy(
        f"{NAME_PREFIX}{name}",
        namespace,
        {"podSelector": {"matchLabels": dict(selector)}, "policyTypes": ["Ingress"], "ingress": rules},
    )


def default_deny(namespace: str) -> Policy:
    """Every pod of the namespace is isolated for ingress; the other policies open single paths."""
    return Policy(f"{NAME_PREFIX}default-deny", namespace, {"podSelector": {}, "policyTypes": ["Ingress"]})


def span_senders(settings: StackSettings) -> list[str]:
    """Namespaces whose pods send spans: the meshed ones (sidecars), the Istio namespace and the
    gateway's (gateways), and the configured sender namespaces."""
    found = [*revisions.meshed_namespaces(settings), settings.istio.namespace]
    if settings.istio.gateway.enabled:
        found.append(settings.istio.gateway.namespace)
    found += settings.security.network_policies.sender_namespaces
    return sorted(set(found))


# --------------------------------------------------------------------------- policies per namespace


def signoz_policies(settings: StackSettings, signoz: DeploySigNoz) -> list[Policy]:
    """The SigNoz namespace of a deploy-mode stack (`signoz` is its `settings.signoz`)."""
    ns = signoz.namespace
    ingress_controllers = settings.security.network_policies.ingress_namespaces
    collector_rules = rule([namespaces(span_senders(settings))], RECEIVER_PORTS)
    collector_rules += rule(api_server(settings), [naming.ZIPKIN_PORT])
    if signoz.ingest is not None:
        collector_rules += rule([namespaces(ingress_controllers)], [naming.INGEST_PORT])
    router: list[Policy] = []
    if settings.tail_sampling.enabled:
        # The trace router receives the mesh's Zipkin (and verify's span) and hands traces to the
        # collector's OTLP/gRPC receiver.
        collector_rules += rule([pods(naming.trace_router_selector_labels())], [naming.OTLP_GRPC_PORT])
        router_rules = rule([namespaces(span_senders(settings))], [naming.ZIPKIN_PORT])
        router_rules += rule(api_server(settings), [naming.ZIPKIN_PORT])
        router.append(policy("trace-router", ns, naming.trace_router_selector_labels(), router_rules))
    ui_rules = rule([pods(naming.collector_selector_labels())], [SIGNOZ_OPAMP_PORT])
    ui_rules += rule(api_server(settings), [naming.SIGNOZ_UI_PORT])
    if signoz.ui_host is not None:
        ui_rules += rule([namespaces(ingress_controllers)], [naming.SIGNOZ_UI_PORT])
    clickhouse_rules = rule([_components(CLICKHOUSE_CLIENTS)], [naming.CLICKHOUSE_HTTP_PORT, CLICKHOUSE_NATIVE_PORT])
    clickhouse_rules += rule([pods(signoz_component(CLICKHOUSE))], [CLICKHOUSE_INTERSERVER_PORT])
    clickhouse_rules += rule(api_server(settings), [naming.CLICKHOUSE_HTTP_PORT])
    zookeeper_rules = rule([pods(signoz_component(CLICKHOUSE))], [ZOOKEEPER_CLIENT_PORT])
    zookeeper_rules += rule([pods(signoz_component(ZOOKEEPER))], [ZOOKEEPER_CLIENT_PORT, *ZOOKEEPER_PEER_PORTS])
    return [
        default_deny(ns),
        policy("collector", ns, naming.collector_selector_labels(), collector_rules),
        policy("signoz", ns, signoz_component(SIGNOZ), ui_rules),
        policy("clickhouse", ns, signoz_component(CLICKHOUSE), clickhouse_rules),
        policy("zookeeper", ns, signoz_component(ZOOKEEPER), zookeeper_rules),
        *router,
    ]


def agent_policies(settings: StackSettings) -> list[Policy]:
    """The agent's namespace of a remote-mode stack: only the mesh reaches its Zipkin receiver."""
    ns = settings.signoz.namespace
    rules = rule([namespaces(span_senders(settings))], [naming.ZIPKIN_PORT])
    rules += rule(api_server(settings), [naming.ZIPKIN_PORT, naming.COLLECTOR_METRICS_PORT])
    return [default_deny(ns), policy("agent", ns, naming.agent_selector_labels(), rules)]


def prometheus_peer(settings: StackSettings) -> dict[str, Any] | None:
    """The Prometheus that scrapes Kiali: the deployed one, or an external one by its in-cluster
    Service's namespace (`http://<service>.<namespace>.svc…`); None for one outside the cluster."""
    prometheus = settings.kiali.prometheus
    if isinstance(prometheus, DeployedPrometheus):
        return pods(PROMETHEUS_LABELS)
    host = str(prometheus.url).split("//", 1)[1].split("/", 1)[0].split(":", 1)[0]
    parts = host.split(".")
    return namespaces([parts[1]]) if len(parts) >= 3 and parts[2] == "svc" else None


def istio_policies(settings: StackSettings) -> list[Policy]:
    """Kiali (and the deployed Prometheus) in the Istio namespace; istiod is left open to the mesh."""
    kiali = settings.kiali
    if not kiali.enabled:
        return []
    ns = settings.istio.namespace
    kiali_rules: list[dict[str, Any]] = []
    if kiali.ingress_host is not None:
        kiali_rules += rule([namespaces(settings.security.network_policies.ingress_namespaces)], [naming.KIALI_PORT])
    scraper = prometheus_peer(settings)
    kiali_rules += rule([scraper] if scraper else [], [KIALI_METRICS_PORT])
    found = [policy("kiali", ns, KIALI_LABELS, kiali_rules)]
    if isinstance(kiali.prometheus, DeployedPrometheus):
        found.append(policy("prometheus", ns, PROMETHEUS_LABELS, rule([pods(KIALI_LABELS)], [PROMETHEUS_PORT])))
    return found
