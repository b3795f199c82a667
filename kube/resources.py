"""Resource constructors every component shares, so each option that matters is decided once.

Helm releases take chart, repository and version only from the version table and always pin a
release name; every Release ignores the provider's computed `checksum`, which otherwise shows a
diff on every preview (pulumi/pulumi-kubernetes#2649), and hands its values to Helm as written
(`allowNullValues`): otherwise the provider turns every empty list into null, which Helm reads as
"delete the chart's default" — a `receivers: []` or `included: []` the program sets would not be
what is installed, nor what `make manifests` renders.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from kube import naming
from kube.network_policies import Policy as NetworkPolicy
from versions.table import CHARTS, ChartId

HELM_TIMEOUT_SECONDS = 900
# The served API versions the program writes (Istio 1.30 serves v1 for both; v1alpha1/v1beta1 are legacy).
TELEMETRY_API = "telemetry.istio.io/v1"
SECURITY_API = "security.istio.io/v1"

# Type tokens as the engine (and the policy pack, the plan and the tests) see these resources.
HELM_RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
TELEMETRY_TYPE = f"kubernetes:{TELEMETRY_API}:Telemetry"
PEER_AUTHENTICATION_TYPE = f"kubernetes:{SECURITY_API}:PeerAuthentication"
COMPONENT_TYPE_PREFIX = "mesh-tracing:index:"


def helm_release(
    resource_name: str,
    *,
    chart: ChartId,
    version: str,
    release_name: str,
    namespace: pulumi.Input[str],
    values: Mapping[str, Any],
    repository: str,
    opts: pulumi.ResourceOptions,
) -> k8s.helm.v3.Release:
    """A pinned release from `repository` (`StackSettings.repository_of`); an `oci://` one is
    addressed by chart reference, as Helm takes OCI charts."""
    pinned = CHARTS[chart]
    if version not in pinned.versions:
        raise ValueError(f"{chart} {version} is not in the version table ({', '.join(pinned.versions)})")
    source = repository
    oci = source.startswith("oci://")
    return k8s.helm.v3.Release(
        resource_name,
        k8s.helm.v3.ReleaseArgs(
            name=release_name,
            chart=f"{source}/{pinned.name}" if oci else pinned.name,
            version=version,
            repository_opts=None if oci else k8s.helm.v3.RepositoryOptsArgs(repo=source),
            namespace=namespace,
            values=dict(values),
            timeout=HELM_TIMEOUT_SECONDS,
            max_history=10,
            cleanup_on_fail=True,
            allow_null_values=True,
        ),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(ignore_changes=["checksum"])),
    )


def namespace(
    resource_name: str, name: str, labels: Mapping[str, str], opts: pulumi.ResourceOptions
) -> k8s.core.v1.Namespace:
    return k8s.core.v1.Namespace(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels=dict(labels)),
        opts=opts,
    )


def secret(
    resource_name: str,
    *,
    name: str,
    namespace: pulumi.Input[str],
    string_data: Mapping[str, pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.Secret:
    """A Secret holding secret config (the Output stays secret in state; plans mask it)."""
    return k8s.core.v1.Secret(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace),
        string_data=dict(string_data),
        opts=opts,
    )


def network_policy(
    resource_name: str, policy: NetworkPolicy, *, namespace: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> k8s.networking.v1.NetworkPolicy:
    """One policy of `kube.network_policies`, in `namespace` (an Output of the Namespace the
    component creates, so the policy waits for it)."""
    return k8s.networking.v1.NetworkPolicy(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=policy.name, namespace=namespace),
        spec=cast(Any, policy.spec),
        opts=opts,
    )


def mutating_webhook_configuration(
    resource_name: str,
    *,
    name: str,
    labels: Mapping[str, str],
    webhooks: list[dict[str, Any]],
    opts: pulumi.ResourceOptions,
) -> k8s.admissionregistration.v1.MutatingWebhookConfiguration:
    """A webhook configuration the program owns. The CA bundle is left out: istiod writes it into the
    webhooks of its own `istio.io/rev`, and server-side apply keeps that field istiod's."""
    return k8s.admissionregistration.v1.MutatingWebhookConfiguration(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels=dict(labels)),
        webhooks=cast(Any, webhooks),
        opts=opts,
    )


def service(
    resource_name: str,
    *,
    name: str,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    spec: Mapping[str, Any],
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.Service:
    return k8s.core.v1.Service(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=dict(labels)),
        spec=cast(Any, dict(spec)),
        opts=opts,
    )


def ingest_key_secret(
    resource_name: str, namespace: pulumi.Input[str], key: pulumi.Output[str], parent: pulumi.Resource
) -> k8s.core.v1.Secret:
    """The Secret holding signozIngestKey, on either side: the central collector mounts it as a
    file, the remote agent reads it into its env. Pods read it at start: releases wait for it."""
    return secret(
        resource_name,
        name=naming.INGEST_KEY_SECRET,
        namespace=namespace,
        string_data={naming.INGEST_KEY_SECRET_KEY: key},
        opts=pulumi.ResourceOptions(parent=parent),
    )


def custom_resource(
    resource_name: str,
    *,
    api_version: str,
    kind: str,
    name: str,
    namespace: pulumi.Input[str],
    spec: Mapping[str, Any],
    opts: pulumi.ResourceOptions,
    labels: Mapping[str, str] | None = None,
) -> k8s.apiextensions.CustomResource:
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version=api_version,
        kind=kind,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=dict(labels) if labels else None),
        spec=dict(spec),
        opts=opts,
    )


def telemetry(
    resource_name: str,
    *,
    name: str,
    namespace: pulumi.Input[str],
    spec: Mapping[str, Any],
    opts: pulumi.ResourceOptions,
    labels: Mapping[str, str] | None = None,
) -> k8s.apiextensions.CustomResource:
    return custom_resource(
        resource_name,
        api_version=TELEMETRY_API,
        kind="Telemetry",
        name=name,
        namespace=namespace,
        spec=spec,
        opts=opts,
        labels=labels,
    )


def peer_authentication(
    resource_name: str,
    *,
    name: str,
    namespace: pulumi.Input[str],
    spec: Mapping[str, Any],
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    return custom_resource(
        resource_name,
        api_version=SECURITY_API,
        kind="PeerAuthentication",
        name=name,
        namespace=namespace,
        spec=spec,
        opts=opts,
    )
