"""TracedNamespace: one application namespace in the mesh, with optional tracing and mTLS overrides.

Namespaces usually belong to whoever deploys the applications. `adopt: true` therefore only
server-side-applies the injection label onto an existing namespace (a NamespacePatch), so
`pulumi destroy` removes that label and never the namespace itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from config.namespaces import TracedNamespaceSettings
from config.types import MtlsMode
from kube import pod_security
from kube.istio_specs import peer_authentication_spec
from kube.resources import COMPONENT_TYPE_PREFIX, peer_authentication, telemetry

NAMESPACE_TELEMETRY_NAME = "mesh-tracing"
NAMESPACE_PEER_AUTHENTICATION_NAME = "default"


@dataclass(frozen=True)
class TracedNamespaceArgs:
    """One traced namespace's entry and what the mesh decides for it."""

    traced: TracedNamespaceSettings
    # The injection label that sends its pods to its control plane (`kube.revisions.injection_label`).
    injection_label: tuple[str, str]
    # The control plane its workloads' proxies come from once (re)started.
    revision: str
    provider_name: str
    # The mesh-wide span tags, carried over by a namespace Telemetry that sets its own.
    mesh_tags: Mapping[str, Any]
    # The mesh-wide values its overrides fall back to.
    mesh_sampling_percent: float
    mesh_mtls_mode: MtlsMode


# --------------------------------------------------------------------------- pure builders


def namespace_telemetry_spec(args: TracedNamespaceArgs) -> dict[str, Any] | None:
    """The namespace's Telemetry, or None when it overrides nothing.

    Fields left out inherit from the mesh-wide Telemetry one by one, except `customTags`, which a
    namespace Telemetry replaces as a whole map: the mesh-wide tags are carried over explicitly.
    """
    traced = args.traced
    if traced.sampling_percent is None and traced.custom_tags is None:
        return None
    rule: dict[str, Any] = {"providers": [{"name": args.provider_name}]}
    if traced.sampling_percent is not None:
        rule["randomSamplingPercentage"] = traced.sampling_percent
    if traced.custom_tags is not None:
        tags = dict(args.mesh_tags)
        tags.update({name: tag.to_spec() for name, tag in sorted(traced.custom_tags.items())})
        rule["customTags"] = tags
    return {"tracing": [rule]}


def summary(args: TracedNamespaceArgs) -> dict[str, Any]:
    """What the stack outputs say of the namespace: its label, revision and effective settings."""
    traced = args.traced
    key, value = args.injection_label
    sampling = traced.sampling_percent if traced.sampling_percent is not None else args.mesh_sampling_percent
    mtls = traced.mtls_mode if traced.mtls_mode is not None else args.mesh_mtls_mode
    return {
        "name": traced.name,
        "injectionLabel": f"{key}={value}",
        "revision": args.revision,
        "adopted": traced.adopt,
        "samplingPercent": sampling,
        "mtlsMode": mtls.value,
    }


# --------------------------------------------------------------------------- component


class TracedNamespace(pulumi.ComponentResource):
    """Injection label (created or adopted namespace), then overrides once the mesh is ready."""

    def __init__(
        self,
        name: str,
        args: TracedNamespaceArgs,
        mesh_ready: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(f"{COMPONENT_TYPE_PREFIX}TracedNamespace", name, None, opts)
        traced = args.traced
        labels = dict([args.injection_label])
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

        override = namespace_telemetry_spec(args)
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

        self.summary = summary(args)
        self.register_outputs(self.summary)


def newly_meshed(namespaces: Sequence[TracedNamespace]) -> list[str]:
    """Adopted namespaces: their running pods predate the label and run without sidecars until restarted."""
    return [ns.summary["name"] for ns in namespaces if ns.summary["adopted"]]
