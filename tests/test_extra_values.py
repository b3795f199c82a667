"""`extraValues`: chart values the settings do not model, merged last into each release's values.

The test stack `extras` sets them on every release a deploy-mode stack installs; the pinned charts
are rendered with the result, so a value that reaches the release but not the object (a wrong key
path) fails here.
"""

from __future__ import annotations

import functools
from typing import Any

from meshtools.manifests import Manifest
from meshtools.recording import Run
from tests.conftest import raw_settings, run_test_stack, stack_run
from tests.support.rendered import by_kind, rendered_objects

OWNER = "example.com/owner"


@functools.cache
def rendered(stack: str) -> tuple[Manifest, ...]:
    return tuple(rendered_objects(stack_run(stack)))


def values(run: Run, release: str) -> dict[str, Any]:
    found: dict[str, Any] = run.named(release).inputs["values"]
    return found


def pod_annotations(workload: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = workload["spec"]["template"]["metadata"].get("annotations") or {}
    return found


# --------------------------------------------------------------------------- merged into the values


def test_signoz_extra_values_annotate_the_signoz_pod_template() -> None:
    """`signoz.extraValues: {signoz: {podAnnotations: …}}` reaches the SigNoz StatefulSet's pods
    through the real chart (its templates/signoz/statefulset.yaml reads signoz.podAnnotations)."""
    statefulsets = by_kind(rendered("extras"), "StatefulSet")
    assert pod_annotations(statefulsets[("signoz", "signoz")])[OWNER] == "payments"
    # Beside the chart's own annotations, which a deep merge keeps.
    collector = by_kind(rendered("extras"), "Deployment")[("signoz", "signoz-otel-collector")]
    assert pod_annotations(collector)[OWNER] == "payments"
    assert "signoz.io/scrape" in pod_annotations(collector)


def test_without_extra_values_the_pod_template_has_no_such_annotation() -> None:
    statefulsets = by_kind(rendered("dev"), "StatefulSet")
    assert OWNER not in pod_annotations(statefulsets[("signoz", "signoz")])


def test_a_revisions_own_extra_values_are_merged_after_the_shared_ones() -> None:
    run = stack_run("extras")
    shared, canary = values(run, "mesh-istiod"), values(run, "mesh-istiod-1-31")
    assert shared["podAnnotations"] == {OWNER: "platform"}
    assert canary["podAnnotations"] == {OWNER: "platform-canary"}
    # The shared values reach every control plane; the canary's own only its own.
    assert shared["nodeSelector"] == canary["nodeSelector"] == {"kubernetes.io/os": "linux"}
    deployments = by_kind(rendered("extras"), "Deployment")
    assert pod_annotations(deployments[("istio-system", "istiod")])[OWNER] == "platform"
    assert pod_annotations(deployments[("istio-system", "istiod-1-31")])[OWNER] == "platform-canary"


def test_extra_values_merge_deeply_beside_what_the_program_sets() -> None:
    """A map merges key by key: the program's meshConfig stays, Istio's enableTracing joins it."""
    mesh = values(stack_run("extras"), "mesh-istiod")["meshConfig"]
    assert mesh["enableTracing"] is True
    assert mesh["defaultProviders"]["tracing"] == ["signoz"]
    assert mesh["extensionProviders"][0]["name"] == "signoz"
    configmaps = by_kind(rendered("extras"), "ConfigMap")
    assert "enableTracing: true" in configmaps[("istio-system", "istio")]["data"]["mesh"]


def test_every_release_of_the_extras_stack_carries_its_extra_values() -> None:
    run = stack_run("extras")
    assert values(run, "mesh-base")["global"]["enableReaderRBAC"] is False
    assert values(run, "mesh-gateway")["podAnnotations"] == {OWNER: "edge"}
    assert values(run, "kiali-release")["deployment"]["view_only_mode"] is True
    assert values(run, "kiali-prometheus")["server"]["podAnnotations"] == {OWNER: "platform"}
    rendered_deployments = by_kind(rendered("extras"), "Deployment")
    assert pod_annotations(rendered_deployments[("istio-ingress", "istio-ingress")])[OWNER] == "edge"
    assert pod_annotations(rendered_deployments[("istio-system", "kiali")])[OWNER] == "platform"
    assert pod_annotations(rendered_deployments[("istio-system", "prometheus-server")])[OWNER] == "platform"


def test_the_agents_extra_values_reach_the_agent_daemonset() -> None:
    signoz = raw_settings("remote")["signoz"]
    remote = {**signoz["remote"], "extraValues": {"otelAgent": {"podAnnotations": {OWNER: "payments"}}}}
    run = run_test_stack("remote", {"signoz": {**signoz, "remote": remote}})
    assert values(run, "signoz-agent-release")["otelAgent"]["podAnnotations"] == {OWNER: "payments"}
    daemonsets = by_kind(rendered_objects(run), "DaemonSet")
    [agent] = [workload for (namespace, _), workload in daemonsets.items() if namespace == "signoz"]
    assert pod_annotations(agent)[OWNER] == "payments"
