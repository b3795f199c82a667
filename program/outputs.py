"""The stack outputs operators read (`pulumi stack output`), named in one place."""

from __future__ import annotations

from typing import Any

from components.trace_sink import SINK_KEYS
from components.traced_namespace import newly_meshed
from config.stack import StackSettings
from kube import naming, revisions
from program.wiring import Built

# What KialiIntegration reports (null without Kiali).
KIALI_KEYS = ("kialiService", "kialiUrl", "prometheusUrl", "signozLinkTemplate")


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


def stack_outputs(settings: StackSettings, built: Built) -> dict[str, Any]:
    mesh, sink, kiali = built.mesh, built.sink, built.kiali
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
        **{key: sink.outputs.get(key) for key in SINK_KEYS},
        "tracedNamespaces": [ns.summary for ns in built.namespaces],
        "namespacesToRestart": newly_meshed(built.namespaces),
        **{key: kiali.outputs[key] if kiali else None for key in KIALI_KEYS},
        "demo": built.demo.summary if built.demo else None,
    }
