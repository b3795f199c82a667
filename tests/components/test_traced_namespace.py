"""TracedNamespace built alone from its Args: what it registers (golden files per scenario) and its
wiring: a created namespace or only its label patched, overrides after the mesh, what it reports."""

from __future__ import annotations

from typing import Any

import pytest

from components.traced_namespace import TracedNamespace
from config.types import MtlsMode
from tests.components.builders import MESH_TAGS, stand_in, traced_namespace_args
from tests.components.scenarios import SCENARIOS, recorded
from tests.support.components import Recorded, children_of, outside_the_tree, record

PRIVILEGED = {"pod-security.kubernetes.io/enforce": "privileged"}


def traced(name: str = "shop", **changes: Any) -> Recorded[Any]:
    return record(
        lambda: TracedNamespace(f"ns-{name}", traced_namespace_args(name, **changes), [stand_in("mesh-istiod")])
    )


@pytest.mark.parametrize("scenario", SCENARIOS["traced_namespace"])
def test_everything_is_its_own_child_and_waits_for_the_mesh(scenario: str) -> None:
    """Labelled namespaces send pod creations to the injector, and the overrides need the CRDs: all
    of it waits for what the mesh says is ready."""
    namespace = recorded("traced_namespace", scenario)
    assert outside_the_tree(namespace) == [] and children_of(namespace) == namespace.resources
    for resource in namespace.resources:
        assert "mesh-istiod" in resource.dependency_names, resource.name


def test_a_created_namespace_carries_the_injection_label_and_its_pod_security_level() -> None:
    """privileged: istio-init adds NET_ADMIN to every meshed pod."""
    namespace = recorded("traced_namespace", "created")
    [created] = namespace.resources
    assert created.type == "kubernetes:core/v1:Namespace"
    assert created.inputs["metadata"] == {"name": "shop", "labels": {"istio-injection": "enabled", **PRIVILEGED}}


def test_an_adopted_namespace_gets_only_its_label_patched() -> None:
    """Never created, so never deleted; the label is taken over whoever set it last."""
    namespace = recorded("traced_namespace", "adopted_with_overrides")
    assert not namespace.run.by_type("kubernetes:core/v1:Namespace")
    patch = namespace.named("ns-checkout-label")
    assert patch.type == "kubernetes:core/v1:NamespacePatch"
    assert patch.inputs["metadata"] == {
        "name": "checkout",
        "labels": {"istio-injection": "enabled"},
        "annotations": {"pulumi.com/patchForce": "true"},
    }


def test_the_label_is_the_one_its_args_name() -> None:
    created = recorded("traced_namespace", "on_a_revision").named("ns-search-namespace")
    assert created.inputs["metadata"]["labels"] == {"istio.io/rev": "canary", **PRIVILEGED}
    adopted = traced(adopt=True, injection_label=("istio.io/rev", "canary")).named("ns-shop-label")
    assert adopted.inputs["metadata"]["labels"] == {"istio.io/rev": "canary"}


def test_overrides_wait_for_the_namespace() -> None:
    namespace = recorded("traced_namespace", "adopted_with_overrides")
    for override in ("ns-checkout-telemetry", "ns-checkout-peer-authentication"):
        assert "ns-checkout-label" in namespace.named(override).dependency_names, override


def test_no_override_resources_unless_overridden() -> None:
    assert recorded("traced_namespace", "created").names() == {"ns-shop-namespace"}
    assert "ns-search-peer-authentication" not in recorded("traced_namespace", "on_a_revision").names()


def test_a_namespace_telemetry_carries_the_mesh_tags_over() -> None:
    """A namespace Telemetry replaces the whole customTags map: the mesh-wide tags are restated."""
    [rule] = (
        recorded("traced_namespace", "adopted_with_overrides").named("ns-checkout-telemetry").inputs["spec"]["tracing"]
    )
    assert rule["customTags"] == {**MESH_TAGS, "tenant": {"header": {"name": "x-tenant-id", "defaultValue": "unknown"}}}
    assert rule["randomSamplingPercentage"] == 10


def test_each_override_sets_only_what_it_overrides() -> None:
    """Sampling alone inherits the mesh tags; tags alone inherit the mesh sampling."""
    [sampling_only] = (
        recorded("traced_namespace", "on_a_revision").named("ns-search-telemetry").inputs["spec"]["tracing"]
    )
    assert sampling_only == {"providers": [{"name": "signoz"}], "randomSamplingPercentage": 50}
    [tags_only] = (
        traced(custom_tags={"team": {"literal": {"value": "a"}}}).named("ns-shop-telemetry").inputs["spec"]["tracing"]
    )
    assert "randomSamplingPercentage" not in tags_only
    assert tags_only["customTags"] == {**MESH_TAGS, "team": {"literal": {"value": "a"}}}


def test_reports_its_label_revision_and_effective_settings() -> None:
    """What the stack outputs list: the mesh-wide values where it overrides nothing."""
    adopted = recorded("traced_namespace", "adopted_with_overrides")
    assert (
        adopted.outputs
        == adopted.component.summary
        == {
            "name": "checkout",
            "injectionLabel": "istio-injection=enabled",
            "revision": "default",
            "adopted": True,
            "samplingPercent": 10,
            "mtlsMode": "PERMISSIVE",
        }
    )
    inherits = traced(mesh_sampling_percent=12.5, mesh_mtls_mode=MtlsMode.STRICT).component.summary
    assert (inherits["samplingPercent"], inherits["mtlsMode"], inherits["adopted"]) == (12.5, "STRICT", False)
    assert recorded("traced_namespace", "on_a_revision").outputs["injectionLabel"] == "istio.io/rev=canary"
