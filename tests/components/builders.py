"""Args builders and test doubles for the component tests.

Each builder constructs one component's Args directly (never through program/wiring.py or
StackSettings), from defaults that make a small, valid component, so a test names only what matters
to it: `signoz_stack_args(replicas=3)`. A settings section is given as a mapping in the stack file's
shape, with snake_case or camelCase keys (`{"gateway": {"enabled": True}}`), and validated by its own
model. Defaults are literals, not values the code under test computes.

What another component would hand a component (a namespace name, the resources it waits for, a
TraceSink) comes from test doubles: `stand_in` registers a bare resource to depend on, and
`trace_sink` is a plain object that satisfies the TraceSink Protocol.

Builders that take secrets return Pulumi Outputs, which exist only inside a Pulumi runtime: call
them inside the callable given to `tests.support.components.record`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.demo import BOOKINFO_IMAGES, LOADGEN_APP, DemoArgs, Image
from components.istio_mesh import IstioMeshArgs
from components.kiali_integration import KialiArgs
from components.signoz_agent import SigNozAgentArgs
from components.signoz_stack import SigNozStackArgs
from components.trace_router import TraceRouterArgs
from components.trace_sink import SinkOutputs, TraceSink
from components.traced_namespace import TracedNamespaceArgs
from config.istio import IstioSettings
from config.kiali import KialiSettings
from config.namespaces import TracedNamespaceSettings
from config.signoz import DeploySigNoz, MemoryLimiter, RemoteSigNoz
from config.tail_sampling import TailSamplingSettings
from config.types import MtlsMode
from kube.collector_config import MeshProcessing
from kube.network_policies import Policy
from kube.tree import merge
from tests.support.components import DOUBLE_TYPE_PREFIX
from versions.table import CHARTS, ChartId

# The repositories a stack without chartRepository reads (the version table's data).
ISTIO_REPOSITORY = CHARTS[ChartId.ISTIOD].repository
SIGNOZ_REPOSITORY = CHARTS[ChartId.SIGNOZ].repository
KIALI_REPOSITORY = CHARTS[ChartId.KIALI].repository
PROMETHEUS_REPOSITORY = CHARTS[ChartId.PROMETHEUS].repository

COLLECTOR_SERVICE = "signoz-otel-collector.signoz.svc.cluster.local"
DEPLOYED_PROMETHEUS_URL = "http://prometheus-server.istio-system.svc.cluster.local:80"
ROUTER_IMAGE = "docker.io/signoz/signoz-otel-collector:v0.0.0-test"
MESH_TAGS: Mapping[str, Any] = {
    "environment": {"literal": {"value": "test"}},
    "cluster": {"literal": {"value": "test-cluster"}},
}
LEGACY_INJECTION = ("istio-injection", "enabled")

# Plain values the builders wrap as Pulumi secrets; `record(…, secrets=TEST_SECRETS.values())` masks them.
TEST_SECRETS = {
    "clickhouse_password": "test-clickhouse-password-0123456",
    "ingest_key": "test-ingest-key-0123456789abcdef",
    "signing_key": "test-signing-key-0123456789abcde",
    "oidc_client_secret": "test-oidc-client-secret-01234567",
}


def _secret(value: str | None) -> pulumi.Output[str] | None:
    return None if value is None else pulumi.Output.secret(value)


# --------------------------------------------------------------------------- shared pieces


def mesh_processing(
    *,
    environment: str = "test",
    cluster: str = "test-cluster",
    resource_attributes: Mapping[str, str] | None = None,
    memory_limiter: Mapping[str, Any] | None = None,
    scrub_credentials: bool = True,
) -> MeshProcessing:
    return MeshProcessing(
        environment=environment,
        cluster=cluster,
        resource_attributes=tuple(sorted((resource_attributes or {}).items())),
        memory_limiter=MemoryLimiter.model_validate(memory_limiter or {}),
        scrub_credentials=scrub_credentials,
    )


def network_policy(name: str = "allow-mesh", namespace: str = "signoz") -> Policy:
    """A NetworkPolicy double: the component only places it, the rules are kube/network_policies.py's."""
    return Policy(name=name, namespace=namespace, spec={"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []})


# --------------------------------------------------------------------------- IstioMesh


def istio_mesh_args(
    *,
    istio: Mapping[str, Any] | None = None,
    sampling_percent: float = 1.0,
    mtls_mode: MtlsMode = MtlsMode.STRICT,
    mesh_tags: Mapping[str, Any] = MESH_TAGS,
    zipkin_service: str = COLLECTOR_SERVICE,
    production: bool = False,
    hardened_pods: bool = False,
    repository: str = ISTIO_REPOSITORY,
) -> IstioMeshArgs:
    return IstioMeshArgs(
        istio=IstioSettings.model_validate(istio or {}),
        sampling_percent=sampling_percent,
        mtls_mode=mtls_mode,
        mesh_tags=mesh_tags,
        zipkin_service=zipkin_service,
        production=production,
        hardened_pods=hardened_pods,
        repository=repository,
    )


# --------------------------------------------------------------------------- SigNozStack, TraceRouter


def tail_sampling(**changes: Any) -> TailSamplingSettings:
    return TailSamplingSettings.model_validate({"enabled": True, **changes})


def signoz_stack_args(
    *,
    signoz: Mapping[str, Any] | None = None,
    replicas: int | None = None,
    ingest_host: str | None = None,
    tail: TailSamplingSettings | None = None,
    mesh: MeshProcessing | None = None,
    zipkin_service: str = COLLECTOR_SERVICE,
    hardened_pods: bool = False,
    network_policies: Sequence[Policy] = (),
    repository: str = SIGNOZ_REPOSITORY,
    clickhouse_password: str | None = None,
    ingest_key: str | None = None,
) -> SigNozStackArgs:
    """`replicas` and `ingest_host` are shortcuts into `signoz` (collector.replicas, ingest.host)."""
    section = dict(signoz or {})
    if replicas is not None:
        section = merge(section, {"collector": {"replicas": replicas}})
    if ingest_host is not None:
        section = merge(section, {"ingest": {"host": ingest_host}})
    return SigNozStackArgs(
        signoz=DeploySigNoz.model_validate(section),
        mesh=mesh or mesh_processing(),
        tail_sampling=tail,
        zipkin_service=zipkin_service,
        hardened_pods=hardened_pods,
        network_policies=tuple(network_policies),
        repository=repository,
        clickhouse_password=_secret(clickhouse_password),
        ingest_key=_secret(ingest_key),
    )


def trace_router_args(
    *,
    tail: TailSamplingSettings | None = None,
    mesh: MeshProcessing | None = None,
    namespace: str = "signoz",
    image: str = ROUTER_IMAGE,
) -> TraceRouterArgs:
    return TraceRouterArgs(
        tail_sampling=tail or tail_sampling(), mesh=mesh or mesh_processing(), namespace=namespace, image=image
    )


# --------------------------------------------------------------------------- SigNozAgent


def signoz_agent_args(
    *,
    remote: Mapping[str, Any] | None = None,
    signoz: Mapping[str, Any] | None = None,
    mesh: MeshProcessing | None = None,
    hardened_pods: bool = False,
    network_policies: Sequence[Policy] = (),
    repository: str = SIGNOZ_REPOSITORY,
    ingest_key: str | None = TEST_SECRETS["ingest_key"],
) -> SigNozAgentArgs:
    """Remote mode to https://signoz-ingest.example.com with bearer auth (and its key) unless told."""
    section = merge(
        {"mode": "remote", "remote": {"endpoint": "https://signoz-ingest.example.com"}},
        {**(signoz or {}), **({"remote": remote} if remote else {})},
    )
    return SigNozAgentArgs(
        signoz=RemoteSigNoz.model_validate(section),
        mesh=mesh or mesh_processing(),
        hardened_pods=hardened_pods,
        network_policies=tuple(network_policies),
        repository=repository,
        ingest_key=_secret(ingest_key),
    )


# --------------------------------------------------------------------------- TracedNamespace


def traced_namespace_args(
    name: str = "shop",
    *,
    injection_label: tuple[str, str] = LEGACY_INJECTION,
    revision: str = "default",
    provider_name: str = "signoz",
    mesh_tags: Mapping[str, Any] = MESH_TAGS,
    mesh_sampling_percent: float = 1.0,
    mesh_mtls_mode: MtlsMode = MtlsMode.STRICT,
    **entry: Any,
) -> TracedNamespaceArgs:
    """`entry` is the tracedNamespaces entry's other keys (adopt, sampling_percent, mtls_mode, custom_tags)."""
    return TracedNamespaceArgs(
        traced=TracedNamespaceSettings.model_validate({"name": name, **entry}),
        injection_label=injection_label,
        revision=revision,
        provider_name=provider_name,
        mesh_tags=mesh_tags,
        mesh_sampling_percent=mesh_sampling_percent,
        mesh_mtls_mode=mesh_mtls_mode,
    )


# --------------------------------------------------------------------------- KialiIntegration


def kiali_args(
    *,
    kiali: Mapping[str, Any] | None = None,
    namespace: str = "istio-system",
    prometheus_url: str = DEPLOYED_PROMETHEUS_URL,
    hardened_pods: bool = False,
    network_policies: Sequence[Policy] = (),
    kiali_repository: str = KIALI_REPOSITORY,
    prometheus_repository: str = PROMETHEUS_REPOSITORY,
    signing_key: str | None = None,
    oidc_client_secret: str | None = None,
) -> KialiArgs:
    return KialiArgs(
        kiali=KialiSettings.model_validate(kiali or {}),
        namespace=namespace,
        prometheus_url=prometheus_url,
        hardened_pods=hardened_pods,
        network_policies=tuple(network_policies),
        kiali_repository=kiali_repository,
        prometheus_repository=prometheus_repository,
        signing_key=_secret(signing_key),
        oidc_client_secret=_secret(oidc_client_secret),
    )


# --------------------------------------------------------------------------- DemoWorkload

DEMO_IMAGES: Mapping[str, Image] = {
    **{app: Image(f"docker.io/istio/{image}", "1.20.3") for app, image in BOOKINFO_IMAGES.items()},
    LOADGEN_APP: Image("docker.io/fortio/fortio", "1.75.2"),
}


def demo_args(
    *,
    images: Mapping[str, Image] = DEMO_IMAGES,
    injection_label: tuple[str, str] = LEGACY_INJECTION,
    signoz_url: str | None = None,
    kiali_enabled: bool = True,
) -> DemoArgs:
    return DemoArgs(images=images, injection_label=injection_label, signoz_url=signoz_url, kiali_enabled=kiali_enabled)


# --------------------------------------------------------------------------- test doubles

STAND_IN_TYPE = f"{DOUBLE_TYPE_PREFIX}StandIn"


class StandIn(pulumi.CustomResource):
    """A bare resource in place of one another component registers (istiod, a namespace, a release):
    something to depend on, whose name shows in `dependsOn`."""

    def __init__(self, name: str) -> None:
        super().__init__(STAND_IN_TYPE, name, {})


def stand_in(name: str) -> StandIn:
    """Register a stand-in under `name` (call inside `record`)."""
    return StandIn(name)


@dataclass(frozen=True)
class FakeSink:
    """A TraceSink double: what SigNozStack or SigNozAgent would report, and what to wait for."""

    outputs: SinkOutputs = field(
        default_factory=lambda: SinkOutputs(zipkinEndpoint=f"http://{COLLECTOR_SERVICE}:9411/api/v2/spans")
    )
    ready: Sequence[pulumi.Resource] = ()


def trace_sink(*ready: pulumi.Resource, outputs: SinkOutputs | None = None) -> TraceSink:
    """A TraceSink whose `ready` is `ready` (stand-ins), reporting `outputs` (a collector's address unless told)."""
    return FakeSink(outputs=outputs if outputs is not None else FakeSink().outputs, ready=ready)
