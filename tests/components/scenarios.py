"""The scenarios of the component tests: each builds one component alone, from Args the builders make
and test doubles for what other components would hand it.

Every scenario has a golden file, `tests/golden/components/<component>/<scenario>.yaml`, which the
component's tests compare with and `make golden` writes (scripts/golden.py reads SCENARIOS).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pulumi

from components.demo import DemoWorkload
from components.istio_mesh import IstioMesh
from components.kiali_integration import KialiIntegration
from components.signoz_agent import SigNozAgent
from components.signoz_stack import SigNozStack
from components.trace_router import TraceRouter
from components.traced_namespace import TracedNamespace
from config.types import MtlsMode
from tests.components.builders import (
    TEST_SECRETS,
    demo_args,
    istio_mesh_args,
    kiali_args,
    mesh_processing,
    network_policy,
    signoz_agent_args,
    signoz_stack_args,
    stand_in,
    tail_sampling,
    trace_router_args,
    trace_sink,
    traced_namespace_args,
)
from tests.support.components import Recorded, check_golden, record

Build = Callable[[], pulumi.ComponentResource]


def _record(build: Build) -> Recorded[Any]:
    return record(build, secrets=TEST_SECRETS.values())


# --------------------------------------------------------------------------- IstioMesh

REVISIONS = [{"name": "default", "chart_version": "1.30.8"}, {"name": "1-31", "chart_version": "1.31.4"}]


def istio_single() -> Recorded[Any]:
    """One unrevisioned control plane, no gateway: the shape of most stacks."""
    return _record(lambda: IstioMesh("mesh", istio_mesh_args()))


def istio_gateway() -> Recorded[Any]:
    """The ingress gateway in its own namespace, hardened pods, production."""
    istio = {"gateway": {"enabled": True, "service_type": "NodePort"}}
    return _record(lambda: IstioMesh("mesh", istio_mesh_args(istio=istio, hardened_pods=True, production=True)))


def istio_revisions() -> Recorded[Any]:
    """A canary upgrade: two control planes, `default` on the old one, `canary` on the new one."""
    istio = {"revisions": REVISIONS, "tags": {"default": "default", "canary": "1-31"}}
    return _record(lambda: IstioMesh("mesh", istio_mesh_args(istio=istio)))


def istio_default_moved() -> Recorded[Any]:
    """The `default` tag moved to the new control plane: the old one's own injector turns off."""
    istio = {"revisions": REVISIONS, "tags": {"default": "1-31"}}
    return _record(lambda: IstioMesh("mesh", istio_mesh_args(istio=istio)))


# --------------------------------------------------------------------------- SigNozStack


def signoz_default() -> Recorded[Any]:
    """One collector replica, a generated ClickHouse password, nothing exposed."""
    return _record(lambda: SigNozStack("signoz", signoz_stack_args()))


def signoz_ha() -> Recorded[Any]:
    """Three collector replicas (a PDB), a replicated ClickHouse, protected, a configured password, in
    a namespace of its own choosing."""
    signoz = {"namespace": "observability", "protect": True, "clickhouse": {"replicas": 2, "zookeeper_replicas": 3}}
    return _record(
        lambda: SigNozStack(
            "signoz",
            signoz_stack_args(signoz=signoz, replicas=3, clickhouse_password=TEST_SECRETS["clickhouse_password"]),
        )
    )


def signoz_tail_sampling() -> Recorded[Any]:
    """Tail sampling: the collector samples, the trace router (nested) receives Envoy's spans."""
    router = "signoz-trace-router.signoz.svc.cluster.local"
    return _record(
        lambda: SigNozStack("signoz", signoz_stack_args(tail=tail_sampling(), zipkin_service=router, replicas=2))
    )


def signoz_ingest() -> Recorded[Any]:
    """The central stack of other clusters: the ingest receiver behind a TLS Ingress, its key a
    Secret; the program's NetworkPolicies, hardened pods."""
    signoz = {"ingest": {"tls_secret_name": "signoz-ingest-tls"}}
    return _record(
        lambda: SigNozStack(
            "signoz",
            signoz_stack_args(
                signoz=signoz,
                ingest_host="signoz-ingest.example.com",
                ingest_key=TEST_SECRETS["ingest_key"],
                network_policies=[network_policy("allow-ingest")],
                hardened_pods=True,
            ),
        )
    )


# --------------------------------------------------------------------------- TraceRouter


def router_two_replicas() -> Recorded[Any]:
    """The default: two router replicas and their PDB."""
    return _record(lambda: TraceRouter("router", trace_router_args(), "signoz"))


def router_one_replica() -> Recorded[Any]:
    """One replica: no PDB it could never honour; scrubbing off."""
    args = trace_router_args(tail=tail_sampling(router_replicas=1), mesh=mesh_processing(scrub_credentials=False))
    return _record(lambda: TraceRouter("router", args, "signoz"))


# --------------------------------------------------------------------------- SigNozAgent


def agent_bearer() -> Recorded[Any]:
    """A central mesh-tracing stack's ingest: bearer auth with the key from a Secret."""
    return _record(lambda: SigNozAgent("signoz-agent", signoz_agent_args()))


def agent_signoz_cloud() -> Recorded[Any]:
    """SigNoz Cloud: its header, log and metric collection on."""
    remote = {
        "endpoint": "https://ingest.eu.signoz.cloud:443",
        "auth": "signozCloud",
        "collect_logs": True,
        "collect_metrics": True,
    }
    return _record(lambda: SigNozAgent("signoz-agent", signoz_agent_args(remote=remote)))


def agent_no_auth_insecure() -> Recorded[Any]:
    """No auth (no key, no Secret), TLS not verified, hardened pods and the program's NetworkPolicies."""
    remote = {"endpoint": "https://collector.internal.example.com", "auth": "none", "insecure_skip_verify": True}
    return _record(
        lambda: SigNozAgent(
            "signoz-agent",
            signoz_agent_args(
                remote=remote, ingest_key=None, hardened_pods=True, network_policies=[network_policy("allow-agent")]
            ),
        )
    )


# --------------------------------------------------------------------------- TracedNamespace


def _traced(name: str, **entry: Any) -> Callable[[], TracedNamespace]:
    def build() -> TracedNamespace:
        return TracedNamespace(f"ns-{name}", traced_namespace_args(name, **entry), [stand_in("mesh-istiod")])

    return build


def namespace_created() -> Recorded[Any]:
    """Created with the injection label; no overrides."""
    return _record(_traced("shop"))


def namespace_adopted_with_overrides() -> Recorded[Any]:
    """Adopted (only the label patched), with a Telemetry and a PeerAuthentication of its own."""
    tags = {"tenant": {"header": {"name": "x-tenant-id", "default_value": "unknown"}}}
    return _record(
        _traced("checkout", adopt=True, sampling_percent=10, custom_tags=tags, mtls_mode=MtlsMode.PERMISSIVE)
    )


def namespace_on_a_revision() -> Recorded[Any]:
    """Created on revision canary, sampling overridden alone."""
    return _record(_traced("search", injection_label=("istio.io/rev", "canary"), revision="1-31", sampling_percent=50))


# --------------------------------------------------------------------------- KialiIntegration


def _kiali(**changes: Any) -> Callable[[], KialiIntegration]:
    def build() -> KialiIntegration:
        return KialiIntegration(
            "kiali", kiali_args(**changes), istio_namespace="istio-system", istiod=stand_in("mesh-istiod")
        )

    return build


def kiali_token() -> Recorded[Any]:
    """Token login, a deployed Prometheus, a generated signing key, no SigNoz link."""
    return _record(_kiali())


def kiali_anonymous_external() -> Recorded[Any]:
    """Anonymous, an external Prometheus, linked to SigNoz."""
    url = "http://prometheus.monitoring.svc.cluster.local:9090"
    kiali = {
        "auth": {"strategy": "anonymous"},
        "prometheus": {"mode": "external", "url": url},
        "signoz_url": "https://signoz.example.com",
    }
    return _record(_kiali(kiali=kiali, prometheus_url=url))


def kiali_openid() -> Recorded[Any]:
    """OpenID with its client Secret, an Ingress, a configured signing key, the program's
    NetworkPolicies and hardened pods."""
    kiali = {
        "auth": {"strategy": "openid", "openid": {"issuer_uri": "https://sso.example.com", "client_id": "kiali"}},
        "ingress_host": "kiali.example.com",
    }
    return _record(
        _kiali(
            kiali=kiali,
            signing_key=TEST_SECRETS["signing_key"],
            oidc_client_secret=TEST_SECRETS["oidc_client_secret"],
            network_policies=[network_policy("allow-kiali", "istio-system")],
            hardened_pods=True,
        )
    )


# --------------------------------------------------------------------------- DemoWorkload


def _demo(**changes: Any) -> Callable[[], DemoWorkload]:
    def build() -> DemoWorkload:
        sink = trace_sink(stand_in("signoz-release"))
        return DemoWorkload("demo", demo_args(**changes), [stand_in("mesh-istiod")], sink.ready)

    return build


def demo_plain() -> Recorded[Any]:
    """No SigNoz link, Kiali on."""
    return _record(_demo())


def demo_linked_on_a_revision() -> Recorded[Any]:
    """Linked to SigNoz, on a revision label, without Kiali."""
    return _record(
        _demo(signoz_url="https://signoz.example.com", injection_label=("istio.io/rev", "canary"), kiali_enabled=False)
    )


SCENARIOS: dict[str, dict[str, Callable[[], Recorded[Any]]]] = {
    "istio_mesh": {
        "single": istio_single,
        "gateway": istio_gateway,
        "revisions": istio_revisions,
        "default_moved": istio_default_moved,
    },
    "signoz_stack": {
        "default": signoz_default,
        "ha": signoz_ha,
        "tail_sampling": signoz_tail_sampling,
        "ingest": signoz_ingest,
    },
    "trace_router": {"two_replicas": router_two_replicas, "one_replica": router_one_replica},
    "signoz_agent": {
        "bearer": agent_bearer,
        "signoz_cloud": agent_signoz_cloud,
        "no_auth_insecure": agent_no_auth_insecure,
    },
    "traced_namespace": {
        "created": namespace_created,
        "adopted_with_overrides": namespace_adopted_with_overrides,
        "on_a_revision": namespace_on_a_revision,
    },
    "kiali_integration": {
        "token": kiali_token,
        "anonymous_external": kiali_anonymous_external,
        "openid": kiali_openid,
    },
    "demo": {"plain": demo_plain, "linked_on_a_revision": demo_linked_on_a_revision},
}


@functools.cache
def recorded(component: str, scenario: str) -> Recorded[Any]:
    """A scenario's recording, made once per test process (tests only read it)."""
    return SCENARIOS[component][scenario]()


def golden_problem(component: str, scenario: str) -> str | None:
    """None when the scenario registers what its golden file holds, else the diff and what to run."""
    return check_golden(component, scenario, recorded(component, scenario).render())


def golden_files() -> dict[tuple[str, str], str]:
    """Every component golden file's (component, scenario) with the text it must hold."""
    return {(c, s): build().render() for c, scenarios in SCENARIOS.items() for s, build in scenarios.items()}
