"""IstioMesh built alone from its Args: what it registers (golden files per scenario) and its wiring:
children, ordering, revisions and tags, what it reports."""

from __future__ import annotations

from typing import Any

import pytest

from components.istio_mesh import IstioMesh
from config.types import MtlsMode
from meshtools.recording import changed_resources
from tests.components.builders import ISTIO_REPOSITORY, istio_mesh_args
from tests.components.scenarios import SCENARIOS, recorded
from tests.support.components import Recorded, children_of, outside_the_tree, record, releases_not_from

OUTPUT_KEYS = {"providerName", "samplingPercent", "rootNamespace", "gatewayService", "controlPlanes", "revisionTags"}
OCI = "oci://registry.internal.example.com/charts"


def values(mesh: Recorded[Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = mesh.named(name).inputs["values"]
    return found


@pytest.mark.parametrize("scenario", SCENARIOS["istio_mesh"])
def test_every_resource_is_its_own_child(scenario: str) -> None:
    mesh = recorded("istio_mesh", scenario)
    assert outside_the_tree(mesh) == []
    assert children_of(mesh) == mesh.resources, "no nested component: every resource's parent is the mesh"


def test_ordering_through_real_dependencies() -> None:
    """Base (CRDs) before istiod; the mesh's custom resources after both (CRDs, validating webhook);
    the gateway after istiod (its pods are injected), in its own namespace."""
    mesh = recorded("istio_mesh", "gateway")
    assert mesh.named("mesh-base").dependency_names == {"mesh-namespace"}
    assert mesh.named("mesh-istiod").dependency_names == {"mesh-namespace", "mesh-base"}
    for cr in ("mesh-telemetry", "mesh-peer-authentication"):
        assert {"mesh-base", "mesh-istiod"} <= mesh.named(cr).dependency_names, cr
    gateway = mesh.named("mesh-gateway")
    assert gateway.dependency_names == {"mesh-gateway-namespace", "mesh-base", "mesh-istiod"}
    assert gateway.inputs["namespace"] == "istio-ingress" != mesh.named("mesh-istiod").inputs["namespace"]


def test_no_gateway_unless_enabled() -> None:
    mesh = recorded("istio_mesh", "single")
    assert {"mesh-gateway", "mesh-gateway-namespace"}.isdisjoint(mesh.names())
    assert mesh.component.gateway_service is None and "gatewayService" not in mesh.outputs


def test_reports_what_the_stack_outputs_read() -> None:
    """register_outputs holds every key, and the attributes program/outputs.py reads say the same."""
    mesh = recorded("istio_mesh", "gateway")
    assert set(mesh.outputs) == OUTPUT_KEYS
    component: IstioMesh = mesh.component
    assert (component.provider_name, component.root_namespace, component.gateway_service) == (
        mesh.outputs["providerName"],
        mesh.outputs["rootNamespace"],
        mesh.outputs["gatewayService"],
    )
    assert component.control_planes == mesh.outputs["controlPlanes"]
    gateway_namespace = mesh.named("mesh-gateway").inputs["namespace"]
    assert mesh.outputs["gatewayService"] == f"istio-ingress.{gateway_namespace}.svc.cluster.local"


def test_mesh_config_sits_where_the_chart_reads_it() -> None:
    """Top-level meshConfig (the chart ignores global.meshConfig), no legacy defaultConfig.tracing, and
    the validating webhook starts as Fail in both charts (istio/istio#44285)."""
    mesh = recorded("istio_mesh", "single")
    istiod = values(mesh, "mesh-istiod")
    assert "meshConfig" not in istiod["global"]
    assert "tracing" not in istiod["meshConfig"]["defaultConfig"]
    assert istiod["base"] == values(mesh, "mesh-base")["base"] == {"validationFailurePolicy": "Fail"}


def test_the_telemetry_uses_the_provider_istiod_defines() -> None:
    istio = {"provider_name": "zipkin-signoz", "max_tag_length": 512, "trace_context": "USE_B3"}
    mesh = record(lambda: IstioMesh("mesh", istio_mesh_args(istio=istio, zipkin_service="collector.obs.svc")))
    [provider] = values(mesh, "mesh-istiod")["meshConfig"]["extensionProviders"]
    assert provider == {
        "name": "zipkin-signoz",
        "zipkin": {"service": "collector.obs.svc", "port": 9411, "maxTagLength": 512, "traceContextOption": "USE_B3"},
    }
    assert values(mesh, "mesh-istiod")["meshConfig"]["defaultProviders"]["tracing"] == ["zipkin-signoz"]
    [rule] = mesh.named("mesh-telemetry").inputs["spec"]["tracing"]
    assert rule["providers"] == [{"name": "zipkin-signoz"}]


@pytest.mark.parametrize("production", [True, False])
def test_the_telemetry_carries_the_production_decision_the_policy_pack_reads(production: bool) -> None:
    mesh = record(lambda: IstioMesh("mesh", istio_mesh_args(production=production)))
    labels = mesh.named("mesh-telemetry").inputs["metadata"]["labels"]
    assert labels == {"mesh-tracing.io/production": str(production).lower()}


def test_a_single_revision_reaches_istiod_base_and_gateway() -> None:
    istio = {"revision": "canary", "gateway": {"enabled": True}}
    mesh = record(lambda: IstioMesh("mesh", istio_mesh_args(istio=istio)))
    assert values(mesh, "mesh-istiod")["revision"] == "canary"
    assert values(mesh, "mesh-base")["defaultRevision"] == "canary"
    assert values(mesh, "mesh-gateway")["revision"] == "canary"


def test_each_control_plane_is_a_release_and_each_tag_follows_its_own() -> None:
    mesh = recorded("istio_mesh", "revisions")
    assert mesh.outputs["controlPlanes"] == {"default": "1.30.8", "1-31": "1.31.4"}
    assert mesh.outputs["revisionTags"] == {"canary": "1-31", "default": "default"}
    releases = {r.name: r.inputs for r in mesh.resources if r.name.startswith("mesh-istiod")}
    assert {(i["name"], i["version"]) for i in releases.values()} == {("istiod", "1.30.8"), ("istiod-1-31", "1.31.4")}
    assert mesh.named("mesh-base").inputs["version"] == "1.31.4", "the newest control plane's CRDs"
    for suffix in ("", "-service"):
        assert "mesh-istiod-1-31" in mesh.named(f"mesh-tag-canary{suffix}").dependency_names, suffix
    assert mesh.maybe("mesh-tag-default") is None, "the unrevisioned control plane's own injector serves `default`"
    for cr in ("mesh-telemetry", "mesh-peer-authentication"):
        assert {"mesh-tag-canary", "mesh-tag-canary-service"} <= mesh.named(cr).dependency_names


def test_an_injector_turned_off_waits_for_the_tag_that_takes_over() -> None:
    """With `default` moved to 1-31, the old control plane stops injecting only after the `default`
    tag's webhook (served by the new one) exists: no pod is created without a sidecar in between."""
    mesh = recorded("istio_mesh", "default_moved")
    assert values(mesh, "mesh-istiod")["global"]["operatorManageWebhooks"] is True
    assert "operatorManageWebhooks" not in values(mesh, "mesh-istiod-1-31")["global"]
    assert {"mesh-tag-default", "mesh-tag-default-service"} <= mesh.named("mesh-istiod").dependency_names
    assert "mesh-istiod-1-31" in mesh.named("mesh-tag-default").dependency_names


@pytest.mark.parametrize(
    ("changes", "changed"),
    [
        ({"sampling_percent": 42.5}, "mesh-telemetry"),
        ({"mtls_mode": MtlsMode.PERMISSIVE}, "mesh-peer-authentication"),
    ],
)
def test_sampling_and_mtls_each_change_one_resource(changes: dict[str, Any], changed: str) -> None:
    """Both reach running proxies over xDS: no istiod upgrade, no restart."""
    before = record(lambda: IstioMesh("mesh", istio_mesh_args()))
    after = record(lambda: IstioMesh("mesh", istio_mesh_args(**changes)))
    assert changed_resources(before.run, after.run) == {changed: "changed"}


def test_every_release_comes_from_the_repository_it_is_given() -> None:
    """An OCI registry is addressed by chart reference, as Helm takes OCI charts."""
    istio = {"gateway": {"enabled": True}}
    mesh = record(lambda: IstioMesh("mesh", istio_mesh_args(istio=istio, repository=OCI)))
    assert releases_not_from(mesh, OCI) == [] and {"mesh-base", "mesh-istiod", "mesh-gateway"} <= mesh.names()
    assert releases_not_from(recorded("istio_mesh", "gateway"), ISTIO_REPOSITORY) == []
