"""TracedNamespace: created vs adopted namespaces, injection labels, overrides and their ordering."""

from __future__ import annotations

from typing import Any

import pytest

from components.settings import SettingsError, validate_settings
from components.traced_namespace import namespace_telemetry_spec
from meshtools.recording import Run, changed_resources, run_stack
from tests.conftest import raw_settings

MESH_TAGS = {
    "environment": {"literal": {"value": "production"}},
    "cluster": {"literal": {"value": "prod-eu-west-1"}},
}


def test_dev_creates_its_namespace_with_the_injection_label(dev: Run) -> None:
    ns = dev.named("ns-otel-demo-namespace")
    assert ns.type == "kubernetes:core/v1:Namespace"
    assert ns.inputs["metadata"] == {"name": "otel-demo", "labels": {"istio-injection": "enabled"}}
    assert ns.parent_name == "ns-otel-demo"
    assert dev.maybe("ns-otel-demo-telemetry") is None
    assert dev.maybe("ns-otel-demo-peer-authentication") is None


def test_prod_adopts_existing_namespaces_by_patching_only_the_label(prod: Run) -> None:
    patch = prod.named("ns-otel-demo-label")
    assert patch.type == "kubernetes:core/v1:NamespacePatch"
    assert patch.inputs["metadata"] == {
        "name": "otel-demo",
        "labels": {"istio-injection": "enabled"},
        "annotations": {"pulumi.com/patchForce": "true"},
    }
    created = {r.inputs["metadata"]["name"] for r in prod.by_type("kubernetes:core/v1:Namespace")}
    assert created.isdisjoint({"otel-demo", "checkout"}), "adopted namespaces must never be created (or deleted)"


def test_revision_label_replaces_the_default_one() -> None:
    istio = raw_settings("dev").get("istio", {}) | {"revision": "1-30"}
    run = run_stack("dev", {"istio": istio})
    assert run.named("ns-otel-demo-namespace").inputs["metadata"]["labels"] == {"istio.io/rev": "1-30"}
    assert run.outputs["tracedNamespaces"][0]["injectionLabel"] == "istio.io/rev=1-30"


def test_override_telemetry_carries_the_mesh_tags_over(prod: Run) -> None:
    telemetry = prod.named("ns-checkout-telemetry")
    assert telemetry.inputs["metadata"] == {"name": "mesh-tracing", "namespace": "checkout"}
    assert telemetry.inputs["spec"] == {
        "tracing": [
            {
                "providers": [{"name": "signoz"}],
                "randomSamplingPercentage": 10,
                "customTags": MESH_TAGS | {"tenant": {"header": {"name": "x-tenant-id", "defaultValue": "unknown"}}},
            }
        ]
    }
    assert prod.maybe("ns-otel-demo-telemetry") is None


def test_sampling_only_override_inherits_tags_and_tags_only_inherit_sampling() -> None:
    settings = validate_settings(raw_settings("prod"))
    sampling_only = settings.traced_namespaces[0].model_copy(update={"sampling_percent": 50.0})
    assert namespace_telemetry_spec(sampling_only, settings) == {
        "tracing": [{"providers": [{"name": "signoz"}], "randomSamplingPercentage": 50.0}]
    }
    tags_only = settings.traced_namespaces[1].model_copy(update={"sampling_percent": None})
    spec = namespace_telemetry_spec(tags_only, settings)
    assert spec is not None and "randomSamplingPercentage" not in spec["tracing"][0]
    assert spec == {
        "tracing": [
            {
                "providers": [{"name": "signoz"}],
                "customTags": MESH_TAGS | {"tenant": {"header": {"name": "x-tenant-id", "defaultValue": "unknown"}}},
            }
        ]
    }


def test_peer_authentication_override() -> None:
    namespaces: list[Any] = ["a", {"name": "legacy", "mtlsMode": "PERMISSIVE"}]
    run = run_stack("prod", {"tracedNamespaces": namespaces})
    pa = run.named("ns-legacy-peer-authentication")
    assert pa.inputs["metadata"] == {"name": "default", "namespace": "legacy"}
    assert pa.inputs["spec"] == {"mtls": {"mode": "PERMISSIVE"}}
    assert run.maybe("ns-a-peer-authentication") is None
    summary = {s["name"]: (s["mtlsMode"], s["samplingPercent"]) for s in run.outputs["tracedNamespaces"]}
    assert summary == {"a": ("STRICT", 1), "legacy": ("PERMISSIVE", 1)}


def test_everything_waits_for_the_mesh(prod: Run) -> None:
    for name in ("ns-otel-demo-label", "ns-checkout-label", "ns-checkout-telemetry"):
        assert {"mesh-base", "mesh-istiod"} <= prod.named(name).dependency_names, name
    assert "ns-checkout-label" in prod.named("ns-checkout-telemetry").dependency_names


def test_adding_a_namespace_adds_only_its_resources(stack: str, shipped: Run) -> None:
    current = raw_settings(stack)["tracedNamespaces"]
    grown = run_stack(stack, {"tracedNamespaces": [*current, {"name": "payments", "samplingPercent": 5}]})
    assert changed_resources(shipped, grown) == {
        "ns-payments": "added",
        "ns-payments-namespace": "added",
        "ns-payments-telemetry": "added",
    }


def test_outputs_list_namespaces_and_those_needing_a_restart(dev: Run, prod: Run) -> None:
    assert dev.outputs["tracedNamespaces"] == [
        {
            "name": "otel-demo",
            "injectionLabel": "istio-injection=enabled",
            "adopted": False,
            "samplingPercent": 100,
            "mtlsMode": "PERMISSIVE",
        }
    ]
    assert dev.outputs["namespacesToRestart"] == []
    assert prod.outputs["namespacesToRestart"] == ["otel-demo", "checkout"]


@pytest.mark.parametrize(
    ("entries", "key"),
    [
        (["a", "b", {"name": "c", "samplingPercent": 120}], "mesh-tracing:tracedNamespaces[2].samplingPercent"),
        ([{"name": "a", "mtlsMode": "ON"}], "mesh-tracing:tracedNamespaces[0].mtlsMode"),
        ([{"name": "a", "adopt": "yes"}], "mesh-tracing:tracedNamespaces[0].adopt"),
        ([{"name": "a", "sampling": 5}], "mesh-tracing:tracedNamespaces[0].sampling"),
        (["a", "a"], "mesh-tracing:tracedNamespaces[1].name"),
    ],
)
def test_bad_entries_name_their_index(entries: list[Any], key: str) -> None:
    with pytest.raises(SettingsError) as caught:
        run_stack("dev", {"tracedNamespaces": entries})
    assert [p.key for p in caught.value.problems] == [key]
