"""IstioMesh: the Istio control plane, tracing every sampled request to SigNoz over Zipkin.

Tracing is wired the current way: a Zipkin extension provider in istiod's mesh config plus a
mesh-wide Telemetry resource. Sampling and mTLS live only in their custom resources, so turning
either knob changes exactly one resource and reaches running proxies over xDS, without an istiod
upgrade or pod restarts.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components import naming
from components.kube import COMPONENT_TYPE_PREFIX, helm_release, namespace, peer_authentication, telemetry
from components.models import MtlsMode, StackSettings
from components.versions import ChartId

MESH_TELEMETRY_NAME = "mesh-default"
PEER_AUTHENTICATION_NAME = "default"
# Envoy stats prefix for the Zipkin tracer's counters (envoy_tracing_zipkin_reports_sent, …).
ZIPKIN_STATS_PREFIX = "tracing.zipkin"


# --------------------------------------------------------------------------- pure builders


def mesh_custom_tags(settings: StackSettings) -> dict[str, Any]:
    """Tags every span carries: environment and cluster as literals, then the configured extras."""
    tags: dict[str, Any] = {
        "environment": {"literal": {"value": settings.environment}},
        "cluster": {"literal": {"value": settings.cluster}},
    }
    tags.update({name: tag.to_spec() for name, tag in sorted(settings.istio.custom_tags.items())})
    return tags


def zipkin_provider(settings: StackSettings) -> dict[str, Any]:
    istio = settings.istio
    return {
        "name": istio.provider_name,
        "zipkin": {
            "service": naming.zipkin_service_fqdn(settings.signoz),
            "port": naming.ZIPKIN_PORT,
            "maxTagLength": istio.max_tag_length,
            "traceContextOption": istio.trace_context.value,
        },
    }


def istiod_values(settings: StackSettings) -> dict[str, Any]:
    """istiod chart values. `meshConfig` sits at the top level: the chart ignores `global.meshConfig`."""
    istio = settings.istio
    values: dict[str, Any] = {
        "global": {"istioNamespace": istio.namespace},
        "autoscaleMin": istio.istiod.autoscale_min,
        "autoscaleMax": istio.istiod.autoscale_max,
        "resources": istio.istiod.resources.to_values(),
        "meshConfig": {
            "extensionProviders": [zipkin_provider(settings)],
            # The chart's own default `metrics: [prometheus]` (istio_requests_total, which Kiali's
            # graph is built from) is stated next to ours, so the mesh config says it plainly;
            # Istio merges defaultProviders field by field either way.
            "defaultProviders": {"metrics": ["prometheus"], "tracing": [istio.provider_name]},
            "defaultConfig": {"proxyStatsMatcher": {"inclusionPrefixes": [ZIPKIN_STATS_PREFIX]}},
        },
        # Start the validating webhook as Fail instead of letting istiod flip Ignore→Fail after
        # install, the drift reported in istio/istio#44285.
        "base": {"validationFailurePolicy": "Fail"},
    }
    if istio.revision:
        values["revision"] = istio.revision
    return values


def base_values(settings: StackSettings) -> dict[str, Any]:
    # The base chart renders the default-revision validator (with a revision); it starts as Fail
    # too, for the reason given for istiod's (istio/istio#44285).
    values: dict[str, Any] = {
        "global": {"istioNamespace": settings.istio.namespace},
        "base": {"validationFailurePolicy": "Fail"},
    }
    if settings.istio.revision:
        values["defaultRevision"] = settings.istio.revision
    return values


def gateway_values(settings: StackSettings) -> dict[str, Any]:
    values: dict[str, Any] = {"service": {"type": settings.istio.gateway.service_type.value}}
    if settings.istio.revision:
        values["revision"] = settings.istio.revision
    return values


def telemetry_spec(provider: str, sampling_percent: float, custom_tags: dict[str, Any]) -> dict[str, Any]:
    return {
        "tracing": [
            {
                "providers": [{"name": provider}],
                "randomSamplingPercentage": sampling_percent,
                "customTags": custom_tags,
            }
        ]
    }


def mesh_telemetry_spec(settings: StackSettings) -> dict[str, Any]:
    return telemetry_spec(settings.istio.provider_name, settings.sampling_percent, mesh_custom_tags(settings))


def peer_authentication_spec(mode: MtlsMode) -> dict[str, Any]:
    return {"mtls": {"mode": mode.value}}


# --------------------------------------------------------------------------- component


class IstioMesh(pulumi.ComponentResource):
    """base → istiod → (gateway); mesh-wide Telemetry and PeerAuthentication after both."""

    base: pulumi.Resource
    istiod: pulumi.Resource
    ready: list[pulumi.Resource]

    def __init__(self, name: str, settings: StackSettings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{COMPONENT_TYPE_PREFIX}IstioMesh", name, None, opts)
        istio = settings.istio
        child = pulumi.ResourceOptions(parent=self)

        system_ns = namespace(f"{name}-namespace", istio.namespace, {}, child)
        self.namespace_name: pulumi.Output[str] = system_ns.metadata.name
        self.base = helm_release(
            f"{name}-base",
            chart=ChartId.ISTIO_BASE,
            version=istio.chart_version,
            release_name=naming.ISTIO_BASE_RELEASE,
            namespace=system_ns.metadata.name,
            values=base_values(settings),
            repository=settings.chart_repository,
            opts=child,
        )
        self.istiod = helm_release(
            f"{name}-istiod",
            chart=ChartId.ISTIOD,
            version=istio.chart_version,
            release_name=naming.ISTIOD_RELEASE,
            namespace=system_ns.metadata.name,
            values=istiod_values(settings),
            repository=settings.chart_repository,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.base]),
        )
        # CRDs come from base; the validating webhook is served by istiod.
        self.ready = [self.base, self.istiod]
        after_mesh = pulumi.ResourceOptions(parent=self, depends_on=self.ready)
        self.telemetry = telemetry(
            f"{name}-telemetry",
            name=MESH_TELEMETRY_NAME,
            namespace=system_ns.metadata.name,
            spec=mesh_telemetry_spec(settings),
            opts=after_mesh,
        )
        self.peer_authentication = peer_authentication(
            f"{name}-peer-authentication",
            name=PEER_AUTHENTICATION_NAME,
            namespace=system_ns.metadata.name,
            spec=peer_authentication_spec(settings.mtls_mode),
            opts=after_mesh,
        )
        gateway_service: str | None = None
        if istio.gateway.enabled:
            gateway_ns = namespace(f"{name}-gateway-namespace", istio.gateway.namespace, {}, child)
            helm_release(
                f"{name}-gateway",
                chart=ChartId.ISTIO_GATEWAY,
                version=istio.chart_version,
                release_name=naming.GATEWAY_RELEASE,
                namespace=gateway_ns.metadata.name,
                values=gateway_values(settings),
                repository=settings.chart_repository,
                # Gateway pods are filled in by istiod's injector (image: auto).
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.istiod]),
            )
            gateway_service = naming.service_fqdn(naming.gateway_service_name(), istio.gateway.namespace)

        self.provider_name = istio.provider_name
        self.root_namespace = istio.namespace
        self.sampling_percent = settings.sampling_percent
        self.gateway_service = gateway_service
        self.register_outputs(
            {
                "providerName": self.provider_name,
                "samplingPercent": self.sampling_percent,
                "rootNamespace": self.root_namespace,
                "gatewayService": self.gateway_service,
            }
        )
