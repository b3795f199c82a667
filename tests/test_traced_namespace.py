"""TracedNamespace on the test stacks: created vs adopted namespaces, labels, overrides, ordering."""

from __future__ import annotations

from typing import Any

import pytest

from config.problems import SettingsError
from meshtools.recording import Run, changed_resources
from tests.conftest import raw_settings, run_test_stack

PROD_MESH_TAGS = {
    "environment": {"literal": {"value": "production"}},
    "cluster": {"literal": {"value": "prod-eu-west-1"}},
}


def test_created_namespace_carries_the_injection_label(dev: Run) -> None:
    ns = dev.named("ns-otel-demo-namespace")
    assert ns.type == "kubernetes:core/v1:Namespace"
    # Created: the injection label and Pod Security level privileged (istio-init adds NET_ADMIN).
    assert ns.inputs["metadata"] == {
        "name": "otel-demo",
        "labels": {"istio-injection": "enabled", "pod-security.kubernetes.io/enforce": "privileged"},
    }
    assert ns.parent_name == "ns-otel-demo"
    assert dev.maybe("ns-otel-demo-telemetry") is None
    assert dev.maybe("ns-otel-demo-peer-authentication") is None


def test_adopted_namespaces_get_only_the_label_patched(prod: Run) -> None:
    patch = prod.named("ns-otel-demo-label")
    assert patch.type == "kubernetes:core/v1:NamespacePatch"
    assert patch.inputs["metadata"] == {
        "name": "otel-demo",
        "labels": {"istio-injection": "enabled"},
        "annotations": {"pulumi.com/patchForce": "true"},
    }
    created = {r.inputs["metadata"]["name"] for r in prod.by_type("kubernetes:core/v1:Namespace")}
    assert created.isdisjoint({"otel-demo", "checkout"}), "adopted namespaces must never be created (or deleted)"


def test_revision_label_replaces_the_default_one(edge: Run) -> None:
    assert edge.named("ns-plain-namespace").inputs["metadata"]["labels"] == {
        "istio.io/rev": "canary",
        "pod-security.kubernetes.io/enforce": "privileged",
    }
    assert edge.named("ns-payments-label").inputs["metadata"]["labels"] == {"istio.io/rev": "canary"}
    assert {s["injectionLabel"] for s in edge.outputs["tracedNamespaces"]} == {"istio.io/rev=canary"}


def test_override_telemetry_carries_the_mesh_tags_over(prod: Run) -> None:
    telemetry = prod.named("ns-checkout-telemetry")
    assert telemetry.inputs["metadata"] == {"name": "mesh-tracing", "namespace": "checkout"}
    assert telemetry.inputs["spec"] == {
        "tracing": [
            {
                "providers": [{"name": "signoz"}],
                "randomSamplingPercentage": 10,
                "customTags": PROD_MESH_TAGS
                | {"tenant": {"header": {"name": "x-tenant-id", "defaultValue": "unknown"}}},
            }
        ]
    }
    assert prod.maybe("ns-otel-demo-telemetry") is None


def test_each_override_sets_only_what_it_overrides(edge: Run) -> None:
    """Sampling alone inherits the mesh tags; tags alone inherit the mesh sampling (and restate the
    mesh tags, since a namespace Telemetry replaces the whole map)."""
    [sampling_only] = edge.named("ns-search-telemetry").inputs["spec"]["tracing"]
    assert sampling_only == {"providers": [{"name": "zipkin-signoz"}], "randomSamplingPercentage": 50}
    [tags_only] = edge.named("ns-payments-telemetry").inputs["spec"]["tracing"]
    assert "randomSamplingPercentage" not in tags_only
    mesh_tags = edge.named("mesh-telemetry").inputs["spec"]["tracing"][0]["customTags"]
    assert tags_only["customTags"] == mesh_tags | {"tenant": {"literal": {"value": "acme"}}}
    assert edge.maybe("ns-plain-telemetry") is None


def test_peer_authentication_override(edge: Run) -> None:
    pa = edge.named("ns-legacy-peer-authentication")
    assert pa.inputs["metadata"] == {"name": "default", "namespace": "legacy"}
    assert pa.inputs["spec"] == {"mtls": {"mode": "PERMISSIVE"}}
    assert edge.maybe("ns-plain-peer-authentication") is None
    summary = {s["name"]: (s["mtlsMode"], s["samplingPercent"]) for s in edge.outputs["tracedNamespaces"]}
    assert summary == {
        "legacy": ("PERMISSIVE", 12.5),
        "payments": ("STRICT", 12.5),
        "search": ("STRICT", 50),
        "plain": ("STRICT", 12.5),
    }


def test_everything_waits_for_the_mesh(prod: Run) -> None:
    for name in ("ns-otel-demo-label", "ns-checkout-label", "ns-checkout-telemetry"):
        assert {"mesh-base", "mesh-istiod"} <= prod.named(name).dependency_names, name
    assert "ns-checkout-label" in prod.named("ns-checkout-telemetry").dependency_names


def test_adding_a_namespace_adds_only_its_resources(dev: Run) -> None:
    current = raw_settings("dev")["tracedNamespaces"]
    grown = run_test_stack(
        "dev", {"tracedNamespaces": [*current, {"name": "payments", "samplingPercent": 5}]}, previous=dev
    )
    assert changed_resources(dev, grown) == {
        "ns-payments": "added",
        "ns-payments-namespace": "added",
        "ns-payments-telemetry": "added",
    }


def test_outputs_list_namespaces_and_those_needing_a_restart(dev: Run, prod: Run) -> None:
    assert dev.outputs["tracedNamespaces"] == [
        {
            "name": "otel-demo",
            "injectionLabel": "istio-injection=enabled",
            "revision": "default",
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
        (
            [{"name": "a", "customTags": {"cluster": {"literal": {"value": "x"}}}}],
            'mesh-tracing:tracedNamespaces[0].customTags["cluster"]',
        ),
    ],
)
def test_bad_entries_name_their_index(entries: list[Any], key: str) -> None:
    with pytest.raises(SettingsError) as caught:
        run_test_stack("dev", {"tracedNamespaces": entries})
    assert [p.key for p in caught.value.problems] == [key]
