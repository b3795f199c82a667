"""The stack outputs operators read (`pulumi stack output`), named in one place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from components.demo import DemoWorkload
from components.istio_mesh import IstioMesh
from components.kiali_integration import KialiIntegration
from components.models import StackSettings
from components.signoz_agent import SigNozAgent
from components.signoz_stack import SigNozStack
from components.traced_namespace import TracedNamespace, newly_meshed


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
        "tracingProvider": mesh.provider_name,
        "samplingPercent": mesh.sampling_percent,
        "mtlsMode": settings.mtls_mode.value,
        "istioRootNamespace": mesh.root_namespace,
        "gatewayService": mesh.gateway_service,
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
