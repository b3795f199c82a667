"""mesh-tracing: load settings, build the components, export what operators read."""

import pulumi

from components.istio_mesh import IstioMesh
from components.kiali_integration import KialiIntegration
from components.settings import load_settings
from components.signoz_stack import SigNozStack
from components.traced_namespace import build_traced_namespaces, newly_meshed

loaded = load_settings()
settings = loaded.settings

mesh = IstioMesh("mesh", settings)
signoz = SigNozStack("signoz", settings, loaded.secrets.clickhouse_password)
namespaces = build_traced_namespaces(settings, mesh.ready)
kiali = (
    KialiIntegration(
        "kiali",
        settings,
        istio_namespace=mesh.namespace_name,
        istiod=mesh.istiod,
        signing_key=loaded.secrets.kiali_signing_key,
        oidc_client_secret=loaded.secrets.kiali_oidc_client_secret,
    )
    if settings.kiali.enabled
    else None
)

pulumi.export("environment", settings.environment)
pulumi.export("tracingProvider", mesh.provider_name)
pulumi.export("samplingPercent", mesh.sampling_percent)
pulumi.export("mtlsMode", settings.mtls_mode.value)
pulumi.export("istioRootNamespace", mesh.root_namespace)
pulumi.export("gatewayService", mesh.gateway_service)
pulumi.export("zipkinEndpoint", signoz.zipkin_endpoint)
pulumi.export("otlpGrpcEndpoint", signoz.otlp_grpc_endpoint)
pulumi.export("otlpHttpEndpoint", signoz.otlp_http_endpoint)
pulumi.export("signozUiService", signoz.ui_service)
pulumi.export("traceRetentionDays", signoz.trace_retention_days)
pulumi.export("tracedNamespaces", [ns.summary for ns in namespaces])
pulumi.export("namespacesToRestart", newly_meshed(namespaces))
pulumi.export("kialiService", kiali.service if kiali else None)
pulumi.export("kialiUrl", kiali.url if kiali else None)
pulumi.export("prometheusUrl", kiali.prometheus_url if kiali else None)
pulumi.export("signozLinkTemplate", kiali.signoz_link_template if kiali else None)
