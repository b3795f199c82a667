"""TracedNamespace: one application namespace in the mesh, with optional tracing and mTLS overrides.

Namespaces usually belong to whoever deploys the applications. `adopt: true` therefore only
server-side-applies the injection label onto an existing namespace (a NamespacePatch), so
`pulumi destroy` removes that label and never the namespace itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.istio_mesh import mesh_custom_tags, peer_authentication_spec
from config.namespaces import TracedNamespaceSettings
from config.stack import StackSettings
from config.types import MtlsMode
from kube import pod_security, revisions
from kube.resources import COMPONENT_TYPE_PREFIX, peer_authentication, telemetry

NAMESPACE_TELEMETRY_NAME = "mesh-tracing"
NAMESPACE_PEER_AUTHENTICATION_NAME = "default"


# --------------------------------------------------------------------------- pure builders


def namespace_labels(settings: StackSettings, revision: str | None = None) -> dict[str, str]:
    """The injection label of a namespace following `revision` (a tag or revision; None = default)."""
    key, value = revisions.injection_label(settings.istio, revision)
    return {key: value}


def namespace_telemetry_spec(traced: TracedNamespaceSettings, settings: StackSettings) -> dict[str, Any] | None:
    """The namespace's Telemetry, or None when it overrides nothing.

    Fields left out inherit from the mesh-wide Telemetry one by one, except `customTags`, which a
    namespace Telemetry replaces as a whole map: the mesh-wide tags are carried over explicitly.
    """
    if traced.sampling_percent is None and traced.custom_tags is None:
        return None
    rule: dict[str, Any] = {"providers": [{"name": settings.istio.provider_name}]}
    if traced.sampling_percent is not None:
        rule["randomSamplingPercentage"] = traced.sampling_percent
    if traced.custom_tags is not None:
        tags = mesh_custom_tags(settings)
        tags.update({name: tag.to_spec() for name, tag in sorted(traced.custom_tags.items())})
        rule["customTags"] = tags
    return {"tracing": [rule]}


def effective_sampling(traced: TracedNamespaceSettings, settings: StackSettings) -> float:
    return traced.sampling_percent if traced.sampling_percent is not None else settings.sampling_percent


def effective_mtls(traced: TracedNamespaceSettings, settings: StackSettings) -> MtlsMode:
    return traced.mtls_mode if traced.mtls_mode is not None else settings.mtls_mode


# --------------------------------------------------------------------------- component


class TracedNamespace(pulumi.ComponentResource):
    """Injection label (created or adopted namespace), then overrides once the mesh is ready."""

    def __init__(
        self,
        name: str,
        traced: TracedNamespaceSettings,
        settings: StackSettings,
        mesh_ready: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(f"{COMPONENT_TYPE_PREFIX}TracedNamespace", name, None, opts)
        labels = namespace_labels(settings, traced.revision)
        # Labelled namespaces send pod creations to istiod's injector: label only once it serves.
        after_mesh = pulumi.ResourceOptions(parent=self, depends_on=list(mesh_ready))
        # A created namespace also carries its Pod Security level; an adopted one keeps its owner's.
        created = labels | pod_security.namespace_labels(pod_security.MESHED_LEVEL)
        metadata = k8s.meta.v1.ObjectMetaArgs(name=traced.name, labels=created)
        namespace: k8s.core.v1.Namespace | k8s.core.v1.NamespacePatch
        if traced.adopt:
            namespace = k8s.core.v1.NamespacePatch(
                f"{name}-label",
                metadata=k8s.meta.v1.ObjectMetaPatchArgs(
                    name=traced.name,
                    labels=labels,
                    # Take the label over even if kubectl or another tool last set it.
                    annotations={"pulumi.com/patchForce": "true"},
                ),
                opts=after_mesh,
            )
        else:
            namespace = k8s.core.v1.Namespace(f"{name}-namespace", metadata=metadata, opts=after_mesh)

        override = namespace_telemetry_spec(traced, settings)
        if override is not None:
            telemetry(
                f"{name}-telemetry",
                name=NAMESPACE_TELEMETRY_NAME,
                namespace=namespace.metadata.name,
                spec=override,
                opts=after_mesh,
            )
        if traced.mtls_mode is not None:
            peer_authentication(
                f"{name}-peer-authentication",
                name=NAMESPACE_PEER_AUTHENTICATION_NAME,
                namespace=namespace.metadata.name,
                spec=peer_authentication_spec(traced.mtls_mode),
                opts=after_mesh,
            )

        label_key, label_value = next(iter(labels.items()))
        self.summary: dict[str, Any] = {
            "name": traced.name,
            "injectionLabel": f"{label_key}={label_value}",
            # The control plane whose proxies its workloads run once (re)started.
            "revision": revisions.resolve(settings.istio, traced.revision).name,
            "adopted": traced.adopt,
            "samplingPercent": effective_sampling(traced, settings),
            "mtlsMode": effective_mtls(traced, settings).value,
        }
        self.register_outputs(self.summary)


def build_traced_namespaces(settings: StackSettings, mesh_ready: Sequence[pulumi.Resource]) -> list[TracedNamespace]:
    return [TracedNamespace(f"ns-{t.name}", t, settings, mesh_ready) for t in settings.traced_namespaces]


def newly_meshed(namespaces: Sequence[TracedNamespace]) -> list[str]:
    """Adopted namespaces: their running pods predate the label and run without sidecars until restarted."""
    return [ns.summary["name"] for ns in namespaces if ns.summary["adopted"]]
