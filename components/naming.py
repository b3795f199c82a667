"""Deterministic names and in-cluster addresses, derived from settings in one place.

Helm release names are pinned here, never generated, because Service DNS names follow from them:
Envoy reports spans to the collector's FQDN, which istiod resolves in its service registry. Istio and
SigNoz therefore agree on the address from settings alone and can install in parallel.
"""

from __future__ import annotations

from components.models import IstioSettings, SigNozSettings

CLUSTER_DOMAIN = "cluster.local"

ISTIO_BASE_RELEASE = "istio-base"
ISTIOD_RELEASE = "istiod"
GATEWAY_RELEASE = "istio-ingress"
SIGNOZ_RELEASE = "signoz"
KIALI_RELEASE = "kiali"
PROMETHEUS_RELEASE = "prometheus"

ZIPKIN_PORT = 9411
ZIPKIN_PATH = "/api/v2/spans"
OTLP_GRPC_PORT = 4317
OTLP_HTTP_PORT = 4318
SIGNOZ_UI_PORT = 8080
CLICKHOUSE_HTTP_PORT = 8123
KIALI_PORT = 20001
PROMETHEUS_SERVER_PORT = 80

# The namespace of the optional demo workload (`mesh-tracing:demo`), created and owned by the program.
DEMO_NAMESPACE = "mesh-tracing-demo"


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


def zipkin_url(signoz: SigNozSettings) -> str:
    return f"http://{collector_fqdn(signoz)}:{ZIPKIN_PORT}{ZIPKIN_PATH}"


def otlp_grpc_endpoint(signoz: SigNozSettings) -> str:
    return f"{collector_fqdn(signoz)}:{OTLP_GRPC_PORT}"


def otlp_http_endpoint(signoz: SigNozSettings) -> str:
    return f"http://{collector_fqdn(signoz)}:{OTLP_HTTP_PORT}"


def signoz_ui_service() -> str:
    return signoz_fullname()


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


def istiod_name(istio: IstioSettings) -> str:
    """istiod's Deployment and mesh ConfigMap suffix: `istiod`/`istio`, or `-<revision>` added."""
    return f"istiod-{istio.revision}" if istio.revision else "istiod"


def mesh_configmap_name(istio: IstioSettings) -> str:
    return f"istio-{istio.revision}" if istio.revision else "istio"


def injection_label(istio: IstioSettings) -> tuple[str, str]:
    """The namespace label that selects istiod's injector: a revision label, or the default one."""
    if istio.revision:
        return ("istio.io/rev", istio.revision)
    return ("istio-injection", "enabled")
