"""Deterministic names and in-cluster addresses, derived from settings in one place.

Helm release names are pinned here, never generated, because Service DNS names follow from them:
Envoy reports spans to the collector's FQDN, which istiod resolves in its service registry. Istio and
SigNoz therefore agree on the address from settings alone and can install in parallel.
"""

from __future__ import annotations

from config import stack
from config.istio import IstioSettings
from config.signoz import DeploySigNoz, SigNozSettings
from config.stack import StackSettings

CLUSTER_DOMAIN = "cluster.local"

# The label on the mesh-wide Telemetry that carries the program's production decision ("true" or
# "false"), so the policy pack applies the guard rails exactly where the settings reader did.
PRODUCTION_LABEL = "mesh-tracing.io/production"

ISTIO_BASE_RELEASE = "istio-base"
ISTIOD_RELEASE = "istiod"
GATEWAY_RELEASE = "istio-ingress"
SIGNOZ_RELEASE = "signoz"
KIALI_RELEASE = "kiali"
PROMETHEUS_RELEASE = "prometheus"
# signoz.mode remote: the k8s-infra chart's agent DaemonSet, in signoz.namespace.
AGENT_RELEASE = "k8s-infra"
AGENT_CHART = "k8s-infra"
AGENT_COMPONENT = "otel-agent"

ZIPKIN_PORT = 9411
ZIPKIN_PATH = "/api/v2/spans"
OTLP_GRPC_PORT = 4317
OTLP_HTTP_PORT = 4318
SIGNOZ_UI_PORT = 8080
CLICKHOUSE_HTTP_PORT = 8123
KIALI_PORT = 20001
PROMETHEUS_SERVER_PORT = 80
# A collector's own Prometheus endpoint (the agent's and the trace router's: a pull reader on 0.0.0.0;
# the k8s-infra chart's `metrics` port), and the exporter-helper counters the agent serves, names
# without a `_total` suffix. Each carries the label exporter="<AGENT_EXPORTER>".
COLLECTOR_METRICS_PORT = 8888
AGENT_METRICS_PATH = "/metrics"
AGENT_EXPORTER = "otlphttp/signoz-remote"
AGENT_SENT_SPANS = "otelcol_exporter_sent_spans"
AGENT_SEND_FAILED_SPANS = "otelcol_exporter_send_failed_spans"
AGENT_ENQUEUE_FAILED_SPANS = "otelcol_exporter_enqueue_failed_spans"
AGENT_QUEUE_SIZE = "otelcol_exporter_queue_size"
AGENT_QUEUE_CAPACITY = "otelcol_exporter_queue_capacity"
# The central side: a second OTLP/HTTP receiver of the SigNoz collector, behind the chart's
# collector Ingress, that checks the ingest key as a bearer token.
INGEST_PORT = 4319
INGEST_PORT_NAME = "otlp-ingest"  # a Service port name: an IANA service name, at most 15 characters
INGEST_PATH = "/v1/traces"
# The Kubernetes Secret holding signozIngestKey, created by the program in signoz.namespace on both
# sides: the agent reads it as an env var (secretKeyRef), the central collector as a mounted file.
INGEST_KEY_SECRET = "signoz-ingest-key"
INGEST_KEY_SECRET_KEY = "token"

# tailSampling: the Deployment (and its Service, ConfigMap, ServiceAccount) that receives the mesh's
# Zipkin spans and routes each trace, by trace ID, to one replica of the SigNoz collector.
TRACE_ROUTER = "signoz-trace-router"

# The labels of the namespaces the program creates for SigNoz or its agent: ClickHouse, ZooKeeper and
# the schema-migration Jobs must not get sidecars (a sidecar keeps a Job's pod running forever and
# intercepts ClickHouse's inter-node traffic).
NO_INJECTION_LABELS = {"istio-injection": "disabled"}

# Kiali serves under this path; a workload or Service annotated with SIGNOZ_ANNOTATION shows a
# "Traces in SigNoz" link to the annotation's URL (Kiali's additional_display_details).
KIALI_WEB_ROOT = "/kiali"
SIGNOZ_ANNOTATION = "mesh-tracing.io/signoz-traces"

# The mesh-wide Telemetry and PeerAuthentication in Istio's root namespace (`make verify` reads them
# by these names).
MESH_TELEMETRY_NAME = "mesh-default"
PEER_AUTHENTICATION_NAME = "default"

# The namespace of the optional demo workload is a settings fact (the reader keeps other uses out of it).
DEMO_NAMESPACE = stack.DEMO_NAMESPACE


def sidecar_service_name(app: str, namespace: str) -> str:
    """The service name Istio gives a sidecar's spans (`tracingServiceName: APP_LABEL_AND_NAMESPACE`,
    the default): `<app label>.<namespace>`; SigNoz lists traces under that name."""
    return f"{app}.{namespace}"


def signoz_fullname() -> str:
    """The chart's `signoz.fullname`: the release name when it already contains "signoz"."""
    return SIGNOZ_RELEASE if "signoz" in SIGNOZ_RELEASE else f"{SIGNOZ_RELEASE}-signoz"


def collector_service_name() -> str:
    return f"{signoz_fullname()}-otel-collector"


def service_fqdn(service: str, namespace: str) -> str:
    return f"{service}.{namespace}.svc.{CLUSTER_DOMAIN}"


def collector_fqdn(signoz: SigNozSettings) -> str:
    """The collector's FQDN; istiod only finds Zipkin providers by fully qualified name."""
    return service_fqdn(collector_service_name(), signoz.namespace)


def agent_fullname() -> str:
    """The k8s-infra chart's `k8s-infra.fullname`: the release name when it contains the chart name."""
    return AGENT_RELEASE if AGENT_CHART in AGENT_RELEASE else f"{AGENT_RELEASE}-{AGENT_CHART}"


def agent_service_name() -> str:
    """The agent's DaemonSet, Service and ConfigMap: `<fullname>-otel-agent`."""
    return f"{agent_fullname()}-{AGENT_COMPONENT}"


def agent_fqdn(signoz: SigNozSettings) -> str:
    return service_fqdn(agent_service_name(), signoz.namespace)


def agent_selector_labels() -> dict[str, str]:
    """Labels the chart puts on agent pods (its DaemonSet and Service selector)."""
    return {
        "app.kubernetes.io/name": AGENT_CHART,
        "app.kubernetes.io/instance": AGENT_RELEASE,
        "app.kubernetes.io/component": AGENT_COMPONENT,
    }


def trace_router_fqdn(signoz: SigNozSettings) -> str:
    return service_fqdn(TRACE_ROUTER, signoz.namespace)


def trace_router_selector_labels() -> dict[str, str]:
    return {"app.kubernetes.io/name": TRACE_ROUTER, "app.kubernetes.io/part-of": "mesh-tracing"}


def zipkin_service_fqdn(settings: StackSettings) -> str:
    """The Service Envoy reports Zipkin spans to: the agent in remote mode, the trace router with tail
    sampling, else the collector."""
    signoz = settings.signoz
    if signoz.remote_mode:
        return agent_fqdn(signoz)
    return trace_router_fqdn(signoz) if settings.tail_sampling.enabled else collector_fqdn(signoz)


def zipkin_url(host: str) -> str:
    """Where a proxy posts its spans: the Zipkin receiver behind `host` (a Service's FQDN)."""
    return f"http://{host}:{ZIPKIN_PORT}{ZIPKIN_PATH}"


def otlp_grpc_endpoint(signoz: SigNozSettings) -> str:
    return f"{collector_fqdn(signoz)}:{OTLP_GRPC_PORT}"


def otlp_http_endpoint(signoz: SigNozSettings) -> str:
    return f"http://{collector_fqdn(signoz)}:{OTLP_HTTP_PORT}"


def ingest_url(signoz: DeploySigNoz) -> str | None:
    """What a remote stack sets as signoz.remote.endpoint to send to this (central) stack."""
    return f"https://{signoz.ingest.host}" if signoz.ingest is not None else None


def signoz_ui_service() -> str:
    return signoz_fullname()


def signoz_ui_address(signoz: DeploySigNoz) -> str:
    """host:port of SigNoz's UI Service."""
    return f"{service_fqdn(signoz_ui_service(), signoz.namespace)}:{SIGNOZ_UI_PORT}"


def clickhouse_service() -> str:
    return f"{SIGNOZ_RELEASE}-clickhouse"


def collector_selector_labels() -> dict[str, str]:
    """Labels the chart puts on collector pods (its selector), for the program's own PDB."""
    return {
        "app.kubernetes.io/name": "signoz",
        "app.kubernetes.io/instance": SIGNOZ_RELEASE,
        "app.kubernetes.io/component": "otel-collector",
    }


def gateway_service_name() -> str:
    return GATEWAY_RELEASE


def kiali_service_name() -> str:
    return "kiali"


def prometheus_url(istio: IstioSettings) -> str:
    """The server Service of the prometheus chart (`<release>-server`, port 80) in the Istio namespace."""
    host = service_fqdn(f"{PROMETHEUS_RELEASE}-server", istio.namespace)
    return f"http://{host}:{PROMETHEUS_SERVER_PORT}"


def signoz_service_link(signoz_url: str | None, app: str, namespace: str) -> str | None:
    """What to put in SIGNOZ_ANNOTATION of a workload or Service: SigNoz's page of the service name
    Istio gives that workload's sidecar spans. None without a SigNoz URL (`kiali.signozUrl`)."""
    return f"{signoz_url}/services/{sidecar_service_name(app, namespace)}" if signoz_url else None


def kiali_graph_path(namespace: str) -> str:
    """The path (under Kiali's address) of the traffic graph of one namespace."""
    return f"{KIALI_WEB_ROOT}/console/graph/namespaces?namespaces={namespace}"
