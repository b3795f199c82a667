"""The stack outputs operators read (`pulumi stack output`), named in one place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.demo import DemoWorkload
from components.istio_mesh import IstioMesh
from components.kiali_integration import KialiIntegration
from components.signoz_agent import SigNozAgent
from components.signoz_stack import SigNozStack
from components.traced_namespace import TracedNamespace, newly_meshed
from config.stack import StackSettings
from kube import naming, revisions


def mesh_revisions(settings: StackSettings) -> dict[str, str]:
    istio = settings.istio
    found = {
        f"namespace/{traced.name}": revisions.resolve(istio, traced.revision).name
        for traced in settings.traced_namespaces
    }
    if settings.demo:
        found[f"namespace/{naming.DEMO_NAMESPACE}"] = revisions.default_plane(istio).name
    if istio.gateway.enabled:
        found[f"gateway/{istio.gateway.namespace}/{naming.GATEWAY_RELEASE}"] = revisions.resolve(
            istio, istio.gateway.revision
        ).name
    return found


def stack_outputs(
    settings: StackSettings,
    mesh: IstioMesh,
    signoz: SigNozStack | SigNozAgent,
    namespaces: Sequence[TracedNamespace],
    kiali: KialiIntegration | None,
    *,
    demo: DemoWorkload | None,
) -> dict[str, Any]:
    return {
        "environment": settings.environment,
        # Whether the production guard rails apply, and the rule that decided it.
        "production": settings.is_production,
        "productionDecidedBy": settings.production_decision.decided_by,
        "tracingProvider": mesh.provider_name,
        "samplingPercent": mesh.sampling_percent,
        "mtlsMode": settings.mtls_mode.value,
        "istioRootNamespace": mesh.root_namespace,
        "gatewayService": mesh.gateway_service,
        "istioControlPlanes": mesh.control_planes,
        # The control plane each meshed namespace's (and the gateway's) proxies come from once its
        # pods restart: a change here is a workload restart the plan names.
        "meshRevisions": mesh_revisions(settings),
        "signozMode": settings.signoz.mode.value,
        "tracesDestination": signoz.traces_destination,
        "ingestEndpoint": signoz.ingest_endpoint,
        "zipkinEndpoint": signoz.zipkin_endpoint,
        "otlpGrpcEndpoint": signoz.otlp_grpc_endpoint,
        "otlpHttpEndpoint": signoz.otlp_http_endpoint,
        "signozUiService": signoz.ui_service,
        "traceRetentionDays": signoz.trace_retention_days,
        "tracedNamespaces": [ns.summary for ns in namespaces],
        "namespacesToRestart": newly_meshed(namespaces),
        "kialiService": kiali.service if kiali else None,
        "kialiUrl": kiali.url if kiali else None,
        "prometheusUrl": kiali.prometheus_url if kiali else None,
        "signozLinkTemplate": kiali.signoz_link_template if kiali else None,
        "demo": demo.summary if demo else None,
    }
