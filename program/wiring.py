"""Wiring: the one place where stack settings become the components' arguments.

Each component takes a frozen Args of its own (its settings section and what the rest of the stack
decides for it), so what goes into its releases and custom resources is a pure function of those
Args. Everything that needs the whole stack's settings (where the mesh's spans go, which namespaces
are meshed, which NetworkPolicies apply, which repository a chart comes from) is decided here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from components.demo import DemoArgs, DemoWorkload, demo_images
from components.istio_mesh import IstioMesh, IstioMeshArgs
from components.kiali_integration import KialiArgs, KialiIntegration
from components.signoz_agent import SigNozAgent, SigNozAgentArgs
from components.signoz_stack import SigNozStack, SigNozStackArgs
from components.trace_sink import TraceSink
from components.traced_namespace import TracedNamespace, TracedNamespaceArgs
from config.kiali import ExternalPrometheus
from config.reading import Secrets
from config.signoz import DeploySigNoz, RemoteSigNoz
from config.stack import StackSettings
from kube import naming, network_policies, revisions
from kube.collector_config import MeshProcessing
from kube.istio_specs import mesh_custom_tags
from versions.table import ChartId

# --------------------------------------------------------------------------- settings → Args


def mesh_processing(settings: StackSettings) -> MeshProcessing:
    collector = settings.signoz.collector
    return MeshProcessing(
        environment=settings.environment,
        cluster=settings.cluster,
        resource_attributes=tuple(sorted(settings.resource_attributes.items())),
        memory_limiter=collector.memory_limiter,
        scrub_credentials=collector.scrub_credential_attributes,
    )


def mesh_tags(settings: StackSettings) -> dict[str, Any]:
    return mesh_custom_tags(settings.environment, settings.cluster, settings.istio.custom_tags)


def istio_mesh_args(settings: StackSettings) -> IstioMeshArgs:
    return IstioMeshArgs(
        istio=settings.istio,
        sampling_percent=settings.sampling_percent,
        mtls_mode=settings.mtls_mode,
        mesh_tags=mesh_tags(settings),
        zipkin_service=naming.zipkin_service_fqdn(settings),
        production=settings.is_production,
        hardened_pods=settings.security.hardened_pods,
        repository=settings.repository_of(ChartId.ISTIOD),
    )


def policies_if_enabled(
    settings: StackSettings, found: list[network_policies.Policy]
) -> tuple[network_policies.Policy, ...]:
    return tuple(found) if network_policies.enabled(settings) else ()


def signoz_stack_args(settings: StackSettings, signoz: DeploySigNoz, secrets: Secrets) -> SigNozStackArgs:
    return SigNozStackArgs(
        signoz=signoz,
        mesh=mesh_processing(settings),
        tail_sampling=settings.tail_sampling if settings.tail_sampling.enabled else None,
        zipkin_service=naming.zipkin_service_fqdn(settings),
        hardened_pods=settings.security.hardened_pods,
        network_policies=policies_if_enabled(settings, network_policies.signoz_policies(settings, signoz)),
        repository=settings.repository_of(ChartId.SIGNOZ),
        clickhouse_password=secrets.clickhouse_password,
        ingest_key=secrets.signoz_ingest_key,
    )


def signoz_agent_args(settings: StackSettings, signoz: RemoteSigNoz, secrets: Secrets) -> SigNozAgentArgs:
    return SigNozAgentArgs(
        signoz=signoz,
        mesh=mesh_processing(settings),
        hardened_pods=settings.security.hardened_pods,
        network_policies=policies_if_enabled(settings, network_policies.agent_policies(settings)),
        repository=settings.repository_of(ChartId.K8S_INFRA),
        ingest_key=secrets.signoz_ingest_key,
    )


def traced_namespace_args(settings: StackSettings) -> list[TracedNamespaceArgs]:
    istio = settings.istio
    return [
        TracedNamespaceArgs(
            traced=traced,
            injection_label=revisions.injection_label(istio, traced.revision),
            revision=revisions.resolve(istio, traced.revision).name,
            provider_name=istio.provider_name,
            mesh_tags=mesh_tags(settings),
            mesh_sampling_percent=settings.sampling_percent,
            mesh_mtls_mode=settings.mtls_mode,
        )
        for traced in settings.traced_namespaces
    ]


def prometheus_url(settings: StackSettings) -> str:
    """The Prometheus Kiali reads: `kiali.prometheus.url`, or the deployed server's Service."""
    prometheus = settings.kiali.prometheus
    if isinstance(prometheus, ExternalPrometheus):
        return prometheus.url
    return naming.prometheus_url(settings.istio)


def kiali_args(settings: StackSettings, secrets: Secrets) -> KialiArgs | None:
    """Kiali's Args when `kiali.enabled` (the default), else None."""
    if not settings.kiali.enabled:
        return None
    return KialiArgs(
        kiali=settings.kiali,
        namespace=settings.istio.namespace,
        prometheus_url=prometheus_url(settings),
        hardened_pods=settings.security.hardened_pods,
        network_policies=policies_if_enabled(settings, network_policies.istio_policies(settings)),
        kiali_repository=settings.repository_of(ChartId.KIALI),
        prometheus_repository=settings.repository_of(ChartId.PROMETHEUS),
        signing_key=secrets.kiali_signing_key,
        oidc_client_secret=secrets.kiali_oidc_client_secret,
    )


def demo_args(settings: StackSettings) -> DemoArgs | None:
    """The demo's Args when `demo` is true, else None."""
    if not settings.demo:
        return None
    return DemoArgs(
        images=demo_images(settings.istio),
        injection_label=revisions.injection_label(settings.istio, None),
        signoz_url=settings.kiali.signoz_url,
        kiali_enabled=settings.kiali.enabled,
    )


# --------------------------------------------------------------------------- components


@dataclass(frozen=True)
class Built:
    """The components of one stack, for its outputs."""

    mesh: IstioMesh
    sink: TraceSink
    namespaces: list[TracedNamespace]
    kiali: KialiIntegration | None
    demo: DemoWorkload | None


def build_sink(settings: StackSettings, secrets: Secrets) -> TraceSink:
    """What receives the mesh's spans in this cluster: SigNoz itself (deploy) or the agent (remote)."""
    signoz = settings.signoz
    if isinstance(signoz, RemoteSigNoz):
        return SigNozAgent("signoz-agent", signoz_agent_args(settings, signoz, secrets))
    return SigNozStack("signoz", signoz_stack_args(settings, signoz, secrets))


def build(settings: StackSettings, secrets: Secrets) -> Built:
    mesh = IstioMesh("mesh", istio_mesh_args(settings))
    sink = build_sink(settings, secrets)
    namespaces = [
        TracedNamespace(f"ns-{args.traced.name}", args, mesh.ready) for args in traced_namespace_args(settings)
    ]
    found_kiali = kiali_args(settings, secrets)
    kiali = (
        KialiIntegration("kiali", found_kiali, istio_namespace=mesh.namespace_name, istiod=mesh.istiod)
        if found_kiali is not None
        else None
    )
    found_demo = demo_args(settings)
    demo = DemoWorkload("demo", found_demo, mesh.ready, sink.ready) if found_demo is not None else None
    return Built(mesh=mesh, sink=sink, namespaces=namespaces, kiali=kiali, demo=demo)


def export(outputs: Mapping[str, Any]) -> None:
    for name, value in outputs.items():
        pulumi.export(name, value)
