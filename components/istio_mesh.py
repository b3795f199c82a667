"""IstioMesh: the Istio control plane, tracing every sampled request to SigNoz over Zipkin.

Tracing is wired the current way: a Zipkin extension provider in istiod's mesh config plus a
mesh-wide Telemetry resource. Sampling and mTLS live only in their custom resources, so turning
either knob changes exactly one resource and reaches running proxies over xDS, without an istiod
upgrade or pod restarts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from config.istio import DEFAULT_REVISION, IstioSettings
from config.types import MtlsMode
from kube import naming, pod_security, revisions
from kube.istio_specs import peer_authentication_spec, telemetry_spec
from kube.resources import (
    COMPONENT_TYPE_PREFIX,
    helm_release,
    mutating_webhook_configuration,
    namespace,
    peer_authentication,
    service,
    telemetry,
)
from kube.revisions import ControlPlane
from kube.tree import merge
from versions.table import ChartId

# Envoy stats prefix for the Zipkin tracer's counters (envoy_tracing_zipkin_reports_sent, …).
ZIPKIN_STATS_PREFIX = "tracing.zipkin"


@dataclass(frozen=True)
class IstioMeshArgs:
    """What IstioMesh needs: its settings section and what the rest of the stack decides for it."""

    istio: IstioSettings
    sampling_percent: float
    mtls_mode: MtlsMode
    # The span tags every proxy adds (`kube.istio_specs.mesh_custom_tags`).
    mesh_tags: Mapping[str, Any]
    # The Service the Zipkin provider reports to (the collector, the trace router or the agent).
    zipkin_service: str
    production: bool
    hardened_pods: bool
    repository: str


# --------------------------------------------------------------------------- pure builders


def zipkin_provider(args: IstioMeshArgs) -> dict[str, Any]:
    istio = args.istio
    return {
        "name": istio.provider_name,
        "zipkin": {
            "service": args.zipkin_service,
            "port": naming.ZIPKIN_PORT,
            "maxTagLength": istio.max_tag_length,
            "traceContextOption": istio.trace_context.value,
        },
    }


def mesh_config(args: IstioMeshArgs) -> dict[str, Any]:
    """istiod's meshConfig, the same for every control plane: the Zipkin provider is derived once."""
    return {
        "extensionProviders": [zipkin_provider(args)],
        # The chart's own default `metrics: [prometheus]` (istio_requests_total, which Kiali's
        # graph is built from) is stated next to ours, so the mesh config says it plainly;
        # Istio merges defaultProviders field by field either way.
        "defaultProviders": {"metrics": ["prometheus"], "tracing": [args.istio.provider_name]},
        "defaultConfig": {"proxyStatsMatcher": {"inclusionPrefixes": [ZIPKIN_STATS_PREFIX]}},
    }


def image_globals(istio: IstioSettings, chart_version: str) -> dict[str, Any]:
    """Where istiod's and the injected proxies' images come from, set for every Istio version: the
    charts' own default hub (registry.istio.io) is retired."""
    values: dict[str, Any] = {"hub": istio.hub, "tag": chart_version}
    if istio.image_pull_secrets:
        values["imagePullSecrets"] = list(istio.image_pull_secrets)
    return values


def istiod_values(args: IstioMeshArgs, control_plane: ControlPlane) -> dict[str, Any]:
    """istiod chart values. `meshConfig` sits at the top level: the chart ignores `global.meshConfig`."""
    istio = args.istio
    global_values: dict[str, Any] = {
        "istioNamespace": istio.namespace,
        **image_globals(istio, control_plane.chart_version),
    }
    if revisions.own_injector_off(istio, control_plane):
        global_values["operatorManageWebhooks"] = True
    values: dict[str, Any] = {
        "global": global_values,
        "autoscaleMin": istio.istiod.autoscale_min,
        "autoscaleMax": istio.istiod.autoscale_max,
        "resources": istio.istiod.resources.to_values(),
        "meshConfig": mesh_config(args),
        # Start the validating webhook as Fail instead of letting istiod flip Ignore→Fail after
        # install, the drift reported in istio/istio#44285.
        "base": {"validationFailurePolicy": "Fail"},
    }
    if control_plane.chart_revision:
        values["revision"] = control_plane.chart_revision
    values |= pod_security.istiod_contexts(args.hardened_pods)
    # The stack's own values last: every control plane's, then this one's revision entry's.
    for extra in istio.istiod_extra_values(control_plane.name):
        values = merge(values, extra)
    return values


def base_values(istio: IstioSettings) -> dict[str, Any]:
    # The base chart renders the default-revision validator (with a revision); it starts as Fail
    # too, for the reason given for istiod's (istio/istio#44285).
    global_values: dict[str, Any] = {"istioNamespace": istio.namespace}
    if istio.image_pull_secrets:
        global_values["imagePullSecrets"] = list(istio.image_pull_secrets)
    values: dict[str, Any] = {"global": global_values, "base": {"validationFailurePolicy": "Fail"}}
    behind_default = revisions.default_plane(istio)
    if behind_default.chart_revision:
        # istiod-default-validator validates for the revision behind the `default` tag.
        values["defaultRevision"] = behind_default.chart_revision
    return merge(values, istio.base.extra_values)


def gateway_values(args: IstioMeshArgs) -> dict[str, Any]:
    istio = args.istio
    values: dict[str, Any] = {"service": {"type": istio.gateway.service_type.value}}
    revision = revisions.gateway_revision_value(istio)
    if revision:
        values["revision"] = revision
    if istio.image_pull_secrets:
        values["imagePullSecrets"] = [{"name": name} for name in istio.image_pull_secrets]
    return merge(values | pod_security.gateway_contexts(args.hardened_pods), istio.gateway.extra_values)


def mesh_telemetry_spec(args: IstioMeshArgs) -> dict[str, Any]:
    return telemetry_spec(args.istio.provider_name, args.sampling_percent, args.mesh_tags)


# --------------------------------------------------------------------------- component


class IstioMesh(pulumi.ComponentResource):
    """base → each control plane (istiod) → revision tags → (gateway); mesh-wide Telemetry and
    PeerAuthentication after all of them."""

    base: pulumi.Resource
    istiod: pulumi.Resource
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: IstioMeshArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{COMPONENT_TYPE_PREFIX}IstioMesh", name, None, opts)
        istio = args.istio
        child = pulumi.ResourceOptions(parent=self)
        repository = args.repository

        system_labels = pod_security.namespace_labels(pod_security.istio_namespace_level(args.hardened_pods))
        system_ns = namespace(f"{name}-namespace", istio.namespace, system_labels, child)
        self.namespace_name: pulumi.Output[str] = system_ns.metadata.name
        self.base = helm_release(
            f"{name}-base",
            chart=ChartId.ISTIO_BASE,
            version=istio.newest_chart_version,
            release_name=naming.ISTIO_BASE_RELEASE,
            namespace=system_ns.metadata.name,
            values=base_values(istio),
            repository=repository,
            opts=child,
        )
        planes = revisions.control_planes(istio)
        # Tags point at running control planes; a control plane whose own injector turns off waits
        # for the tag object that takes its namespaces over.
        tagged = revisions.rendered_tags(istio)
        waiting = {p.name for p in planes if revisions.own_injector_off(istio, p)}
        releases: dict[str, pulumi.Resource] = {}
        made: dict[str, list[pulumi.Resource]] = {}
        for control_plane in sorted(planes, key=lambda p: p.name in waiting):
            after: list[pulumi.Resource] = [self.base]
            if control_plane.name in waiting:
                after += self._tag_objects(
                    name, istio=istio, tagged=tagged, releases=releases, made=made, only={DEFAULT_REVISION}
                )
            releases[control_plane.name] = helm_release(
                f"{name}-{control_plane.resource_suffix}",
                chart=ChartId.ISTIOD,
                version=control_plane.chart_version,
                release_name=control_plane.release_name,
                namespace=system_ns.metadata.name,
                values=istiod_values(args, control_plane),
                repository=repository,
                opts=pulumi.ResourceOptions(parent=self, depends_on=after),
            )
        tag_objects = self._tag_objects(name, istio=istio, tagged=tagged, releases=releases, made=made)
        self.istiod = releases[revisions.default_plane(istio).name]
        # CRDs come from base; the validating webhook is served by istiod; tags route injection.
        self.ready = [self.base, *releases.values(), *tag_objects]
        after_mesh = pulumi.ResourceOptions(parent=self, depends_on=self.ready)
        self.telemetry = telemetry(
            f"{name}-telemetry",
            name=naming.MESH_TELEMETRY_NAME,
            namespace=system_ns.metadata.name,
            spec=mesh_telemetry_spec(args),
            opts=after_mesh,
            labels={naming.PRODUCTION_LABEL: str(args.production).lower()},
        )
        self.peer_authentication = peer_authentication(
            f"{name}-peer-authentication",
            name=naming.PEER_AUTHENTICATION_NAME,
            namespace=system_ns.metadata.name,
            spec=peer_authentication_spec(args.mtls_mode),
            opts=after_mesh,
        )
        gateway_service: str | None = None
        if istio.gateway.enabled:
            gateway_labels = pod_security.namespace_labels(pod_security.gateway_namespace_level(args.hardened_pods))
            gateway_ns = namespace(f"{name}-gateway-namespace", istio.gateway.namespace, gateway_labels, child)
            helm_release(
                f"{name}-gateway",
                chart=ChartId.ISTIO_GATEWAY,
                version=istio.newest_chart_version,
                release_name=naming.GATEWAY_RELEASE,
                namespace=gateway_ns.metadata.name,
                values=gateway_values(args),
                repository=repository,
                # Gateway pods are filled in by the injector of their tag (image: auto).
                opts=pulumi.ResourceOptions(parent=self, depends_on=self.ready),
            )
            gateway_service = naming.service_fqdn(naming.gateway_service_name(), istio.gateway.namespace)

        self.provider_name = istio.provider_name
        self.root_namespace = istio.namespace
        self.sampling_percent = args.sampling_percent
        self.gateway_service = gateway_service
        self.control_planes = {p.name: p.chart_version for p in planes}
        self.register_outputs(
            {
                "providerName": self.provider_name,
                "samplingPercent": self.sampling_percent,
                "rootNamespace": self.root_namespace,
                "gatewayService": self.gateway_service,
                "controlPlanes": self.control_planes,
                "revisionTags": dict(sorted(istio.tags.items())),
            }
        )

    def _tag_objects(
        self,
        name: str,
        *,
        istio: IstioSettings,
        tagged: dict[str, ControlPlane],
        releases: dict[str, pulumi.Resource],
        made: dict[str, list[pulumi.Resource]],
        only: set[str] | None = None,
    ) -> list[pulumi.Resource]:
        """The webhook and Service of each tag (made once, kept in `made`), after the control plane
        it points at."""
        objects: list[pulumi.Resource] = []
        for tag, control_plane in tagged.items():
            if only is not None and tag not in only:
                continue
            if tag not in made:
                opts = pulumi.ResourceOptions(parent=self, depends_on=[releases[control_plane.name]])
                made[tag] = [
                    mutating_webhook_configuration(
                        f"{name}-tag-{tag}",
                        name=revisions.tag_webhook_name(tag, istio.namespace),
                        labels=revisions.tag_labels(tag, control_plane),
                        webhooks=revisions.tag_webhooks(tag, control_plane, istio.namespace),
                        opts=opts,
                    ),
                    service(
                        f"{name}-tag-{tag}-service",
                        name=revisions.tag_service_name(tag),
                        namespace=istio.namespace,
                        labels=revisions.tag_labels(tag, control_plane),
                        spec=revisions.tag_service_spec(control_plane),
                        opts=opts,
                    ),
                ]
            objects += made[tag]
        return objects
