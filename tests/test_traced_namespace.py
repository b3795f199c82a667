"""TracedNamespace in the whole program: overrides restate the mesh's own tags, a new entry adds only its
resources, adopted namespaces are the ones to restart, bad entries are named by index.

TracedNamespace's own behaviour is tested on the component alone (tests/components/test_traced_namespace.py)."""

from __future__ import annotations

from typing import Any

import pytest

from config.problems import SettingsError
from meshtools.recording import Run, changed_resources
from tests.conftest import raw_settings, run_test_stack


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


def test_the_adopted_namespaces_are_the_ones_to_restart(dev: Run, prod: Run) -> None:
    """Their running pods predate the label and run without sidecars until restarted."""
    assert dev.outputs["namespacesToRestart"] == []
    assert prod.outputs["namespacesToRestart"] == ["otel-demo", "checkout"]
    assert [s["name"] for s in prod.outputs["tracedNamespaces"] if s["adopted"]] == ["otel-demo", "checkout"]


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
