"""`extraValues`: chart values the settings do not model, merged last into each release's values.

The test stack `values` sets them on every release a deploy-mode stack installs; the pinned charts
are rendered with the result, so a value that reaches the release but not the object (a wrong key
path) fails here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from config.extra_values import parse_path, release_extras
from config.istio import GATEWAY_OWNED, ISTIO_BASE_OWNED, ISTIOD_OWNED
from config.kiali import KIALI_OWNED, PROMETHEUS_OWNED
from config.problems import Problem, SettingsError
from config.reading import validate_settings
from config.signoz import AGENT_OWNED, SIGNOZ_OWNED
from kube.resources import HELM_RELEASE_TYPE
from kube.tree import dig
from meshtools.manifests import Manifest
from meshtools.recording import Run
from meshtools.stacks import find_stack, load_stack
from tests.conftest import TEST_STACK_NAMES, TEST_STACKS, raw_settings, run_test_stack, stack_run, stack_settings
from tests.support.conformance import chart_of
from tests.support.rendered import by_kind, rendered_objects
from versions.chart_values import ValuePath, dotted, under
from versions.table import ChartId

OWNER = "example.com/owner"


def leaf_paths(values: Mapping[str, Any], prefix: ValuePath = ()) -> Iterator[ValuePath]:
    """The paths whose value `values` sets: every non-map value (a list is one) and every non-empty
    map's keys below; an empty map sets nothing (a merge leaves what is there)."""
    for key, value in values.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            yield from leaf_paths(value, path)
        elif not isinstance(value, Mapping):
            yield path


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
    statefulsets = by_kind(rendered("values"), "StatefulSet")
    assert pod_annotations(statefulsets[("signoz", "signoz")])[OWNER] == "payments"
    # Beside the chart's own annotations, which a deep merge keeps.
    collector = by_kind(rendered("values"), "Deployment")[("signoz", "signoz-otel-collector")]
    assert pod_annotations(collector)[OWNER] == "payments"
    assert "signoz.io/scrape" in pod_annotations(collector)


def test_without_extra_values_the_pod_template_has_no_such_annotation() -> None:
    statefulsets = by_kind(rendered("dev"), "StatefulSet")
    assert OWNER not in pod_annotations(statefulsets[("signoz", "signoz")])


def test_a_revisions_own_extra_values_are_merged_after_the_shared_ones() -> None:
    run = stack_run("values")
    shared, canary = values(run, "mesh-istiod"), values(run, "mesh-istiod-1-31")
    assert shared["podAnnotations"] == {OWNER: "platform"}
    assert canary["podAnnotations"] == {OWNER: "platform-canary"}
    # The shared values reach every control plane; the canary's own only its own.
    assert shared["nodeSelector"] == canary["nodeSelector"] == {"kubernetes.io/os": "linux"}
    deployments = by_kind(rendered("values"), "Deployment")
    assert pod_annotations(deployments[("istio-system", "istiod")])[OWNER] == "platform"
    assert pod_annotations(deployments[("istio-system", "istiod-1-31")])[OWNER] == "platform-canary"


def test_extra_values_merge_deeply_beside_what_the_program_sets() -> None:
    """A map merges key by key: the program's meshConfig stays, Istio's enableTracing joins it."""
    mesh = values(stack_run("values"), "mesh-istiod")["meshConfig"]
    assert mesh["enableTracing"] is True
    assert mesh["defaultProviders"]["tracing"] == ["signoz"]
    assert mesh["extensionProviders"][0]["name"] == "signoz"
    configmaps = by_kind(rendered("values"), "ConfigMap")
    assert "enableTracing: true" in configmaps[("istio-system", "istio")]["data"]["mesh"]


def test_every_release_of_the_values_stack_carries_its_extra_values() -> None:
    run = stack_run("values")
    assert values(run, "mesh-base")["global"]["enableReaderRBAC"] is False
    assert values(run, "mesh-gateway")["podAnnotations"] == {OWNER: "edge"}
    assert values(run, "kiali-release")["deployment"]["view_only_mode"] is True
    assert values(run, "kiali-prometheus")["server"]["podAnnotations"] == {OWNER: "platform"}
    rendered_deployments = by_kind(rendered("values"), "Deployment")
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


# --------------------------------------------------------------------------- refused when the stack is read


def problems_of(raw: dict[str, Any]) -> list[Problem]:
    with pytest.raises(SettingsError) as raised:
        validate_settings({"environment": "dev", "cluster": "kind-1", **raw})
    return list(raised.value.problems)


def istiod_extras(extra: dict[str, Any]) -> dict[str, Any]:
    return {"istio": {"istiod": {"extraValues": extra}}}


def test_a_path_the_program_sets_is_refused_naming_the_setting_that_owns_it() -> None:
    [problem] = problems_of(istiod_extras({"meshConfig": {"defaultProviders": {"tracing": []}}}))
    assert problem.key == "mesh-tracing:istio.istiod.extraValues.meshConfig.defaultProviders.tracing"
    assert problem.value == []
    assert problem.allowed.startswith(
        "meshConfig.defaultProviders.tracing is set by the program from mesh-tracing:istio.providerName: "
        "the mesh's tracing provider"
    )
    assert "mesh-tracing:samplingPercent" in problem.allowed


def test_a_value_that_would_replace_an_owned_path_is_refused() -> None:
    [problem] = problems_of({"signoz": {"extraValues": {"otelCollector": {"ports": None}}}})
    assert problem.key == "mesh-tracing:signoz.extraValues.otelCollector.ports"
    assert problem.allowed.startswith("would replace otelCollector.ports.zipkin, which the program sets from ")


def test_keys_beside_an_owned_path_are_the_stacks() -> None:
    """A map above an owned path merges key by key: only the keys it sets are the stack's."""
    raw = istiod_extras({"meshConfig": {"defaultProviders": {"accessLogging": ["envoy"]}, "enableTracing": True}})
    settings = validate_settings({"environment": "dev", "cluster": "kind-1", **raw})
    assert dig(settings.istio.istiod.extra_values, "meshConfig", "enableTracing") is True


def test_an_unknown_chart_path_is_refused_with_the_path_meant() -> None:
    raw = {"signoz": {"extraValues": {"signoz": {"podAnotations": {OWNER: "payments"}}}}}
    [problem] = problems_of(raw)
    assert problem.key == "mesh-tracing:signoz.extraValues.signoz.podAnotations"
    assert problem.allowed == "not a value of signoz 0.131.0; did you mean signoz.podAnnotations?"


def test_a_misplaced_chart_path_is_refused_with_its_place() -> None:
    [problem] = problems_of({"kiali": {"prometheus": {"extraValues": {"podAnnotations": {OWNER: "x"}}}}})
    assert problem.key == "mesh-tracing:kiali.prometheus.extraValues.podAnnotations"
    assert problem.allowed == "not a value of prometheus 29.27.0; did you mean server.podAnnotations?"


def test_a_misspelt_mesh_config_field_is_refused_and_enable_tracing_is_a_field() -> None:
    [problem] = problems_of(istiod_extras({"meshConfig": {"enableTracing": True, "enableTracng": True}}))
    assert problem.key == "mesh-tracing:istio.istiod.extraValues.meshConfig.enableTracng"
    assert problem.allowed == "Istio 1.31.4: not a field of MeshConfig (istio.io/api); did you mean enableTracing?"


def test_open_maps_lists_and_kubernetes_objects_take_any_key_below_them() -> None:
    extra = {
        "podAnnotations": {OWNER: "platform"},  # an open map
        "tolerations": [{"key": "dedicated", "operator": "Exists"}],  # a list
        "global": {"proxy": {"resources": {"limits": {"cpu": "1"}}}},  # a Kubernetes object
    }
    settings = validate_settings({"environment": "dev", "cluster": "kind-1", **istiod_extras(extra)})
    assert settings.istio.istiod.extra_values == extra
    gateway = {"podAnnotations": {OWNER: "edge"}}  # a map with the chart's own entries
    enabled = {"enabled": True, "extraValues": gateway}
    validate_settings({"environment": "dev", "cluster": "kind-1", "istio": {"gateway": enabled}})


def test_extra_values_of_a_release_the_stack_does_not_install_are_refused() -> None:
    """They would silently do nothing (and no rule would judge them)."""
    found = problems_of(
        {"istio": {"gateway": {"extraValues": {"podAnnotations": {OWNER: "edge"}}}}, "kiali": {"enabled": False}}
    ) + problems_of({"kiali": {"enabled": False, "extraValues": {"kiali_feature_flags": {}}}})
    assert [(p.key, p.allowed) for p in found] == [
        (
            "mesh-tracing:istio.gateway.extraValues",
            "only used when istio.gateway.enabled is true: that release is not installed",
        ),
        ("mesh-tracing:kiali.extraValues", "only used when kiali.enabled is true: that release is not installed"),
    ]


def test_kiali_takes_the_fields_of_its_configuration() -> None:
    """kiali-server renders its values into Kiali's config: a field of the Kiali CR's spec is one."""
    extra = {"kiali_feature_flags": {"ui_defaults": {"graph": {"traffic": {"grpc": "sent"}}}}}
    validate_settings({"environment": "dev", "cluster": "kind-1", "kiali": {"extraValues": extra}})
    [problem] = problems_of({"kiali": {"extraValues": {"kiali_feature_flag": {}}}})
    assert problem.allowed == (
        "not a value of kiali-server 2.29.0 nor a field of Kiali's configuration (the Kiali CR's spec); "
        "did you mean kiali_feature_flags?"
    )
    deeper = {"kiali_feature_flags": {"ui_defaults": {"graph": {"trafic": {"grpc": "sent"}}}}}
    [problem] = problems_of({"kiali": {"extraValues": deeper}})
    assert problem.key == "mesh-tracing:kiali.extraValues.kiali_feature_flags.ui_defaults.graph.trafic"
    assert problem.allowed.endswith("did you mean kiali_feature_flags.ui_defaults.graph.traffic?")


def test_each_control_plane_is_checked_against_its_own_istio_version() -> None:
    """serviceEntryVisibility is a MeshConfig field of Istio 1.31, not of 1.30."""
    field = {"meshConfig": {"serviceEntryVisibility": {"defaultVisibility": "PUBLIC"}}}
    revisions = [{"name": "default", "chartVersion": "1.30.8"}, {"name": "1-31", "chartVersion": "1.31.4"}]
    canary = {"revisions": revisions, "tags": {"default": "default"}}
    [problem] = problems_of({"istio": {**canary, "istiod": {"extraValues": field}}})
    assert problem.key == "mesh-tracing:istio.istiod.extraValues.meshConfig.serviceEntryVisibility"
    assert problem.allowed.startswith("Istio 1.30.8: not a field of MeshConfig")
    own = [revisions[0], {**revisions[1], "extraValues": field}]
    validate_settings({"environment": "dev", "cluster": "kind-1", "istio": {**canary, "revisions": own}})


def test_every_refused_path_of_every_release_is_reported_at_once() -> None:
    raw = {
        "istio": {
            "base": {"extraValues": {"defaultRevision": "x"}},
            "istiod": {"extraValues": {"meshConfig": {"enableTracng": True}, "pilott": {}}},
        },
        "signoz": {"extraValues": {"clickhouse": {"password": "plain"}}},
    }
    assert sorted(problem.key for problem in problems_of(raw)) == [
        "mesh-tracing:istio.base.extraValues.defaultRevision",
        "mesh-tracing:istio.istiod.extraValues.meshConfig.enableTracng",
        "mesh-tracing:istio.istiod.extraValues.pilott",
        "mesh-tracing:signoz.extraValues.clickhouse.password",
    ]


def test_another_modes_extra_values_are_named_with_the_mode_that_takes_them() -> None:
    remote = {"mode": "remote", "remote": {"endpoint": "https://ingest.example.com"}, "extraValues": {"a": 1}}
    [problem] = problems_of({"signoz": remote})
    assert problem.key == "mesh-tracing:signoz.extraValues"
    assert problem.allowed.startswith("deploy mode only: with signoz.mode 'remote'")
    [problem] = problems_of({"kiali": {"prometheus": {"mode": "external", "url": "http://p:9090", "extraValues": {}}}})
    assert problem.allowed.startswith("deploy mode only: with kiali.prometheus.mode 'external'")


def test_a_refusal_names_the_stack_files_line(tmp_path: Path) -> None:
    text = find_stack("values", TEST_STACKS).path.read_text()
    (tmp_path / "Pulumi.values.yaml").write_text(text.replace("enableTracing: true", "enableTracng: true"))
    with pytest.raises(SettingsError) as raised:
        load_stack("values", tmp_path)
    [problem] = raised.value.problems
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "enableTracing: true" in row)
    assert (problem.key, problem.line) == ("mesh-tracing:istio.istiod.extraValues.meshConfig.enableTracng", line)


# --------------------------------------------------------------------------- the owned tables cannot drift

OWNED = {
    ChartId.ISTIO_BASE: ISTIO_BASE_OWNED,
    ChartId.ISTIOD: ISTIOD_OWNED,
    ChartId.ISTIO_GATEWAY: GATEWAY_OWNED,
    ChartId.SIGNOZ: SIGNOZ_OWNED,
    ChartId.K8S_INFRA: AGENT_OWNED,
    ChartId.KIALI: KIALI_OWNED,
    ChartId.PROMETHEUS: PROMETHEUS_OWNED,
}


def program_set_paths(stack: str) -> dict[ChartId, set[ValuePath]]:
    """The paths the value builders set in a test stack's releases (a stack without extraValues, so
    every path of the recorded values is the builders')."""
    assert not release_extras(dict(stack_settings(stack))), f"{stack} sets extraValues"
    found: dict[ChartId, set[ValuePath]] = {}
    for release in stack_run(stack).by_type(HELM_RELEASE_TYPE):
        found.setdefault(chart_of(release)[0], set()).update(leaf_paths(release.inputs["values"]))
    return found


# Where a stack's extraValues overlap what the builders set, the recorded values cannot say who set
# a path; the stacks without extraValues can (the values stack is a canary with a gateway, as others).
BUILDER_STACKS = [name for name in TEST_STACK_NAMES if not release_extras(dict(stack_settings(name)))]


@pytest.mark.parametrize("stack", BUILDER_STACKS)
def test_every_path_the_value_builders_set_is_in_its_releases_owned_table(stack: str) -> None:
    for chart, paths in program_set_paths(stack).items():
        roots = [parse_path(text) for text in OWNED[chart]]
        assert sorted(dotted(p) for p in paths if not any(under(p, root) for root in roots)) == [], chart


def test_the_drift_check_can_fail() -> None:
    """Without its meshConfig entries, the istiod table no longer covers what the builders set."""
    paths = program_set_paths("dev")[ChartId.ISTIOD]
    roots = [parse_path(text) for text in ISTIOD_OWNED if not text.startswith("meshConfig")]
    assert ("meshConfig", "defaultProviders", "tracing") in {p for p in paths if not any(under(p, r) for r in roots)}


def test_every_owned_path_is_set_by_a_value_builder() -> None:
    """No stale entry refuses a path the program no longer sets: each is set in some test stack, or in
    the canary once its `default` tag moves (the old control plane's injector then turns off)."""
    moved = raw_settings("canary")["istio"] | {"tags": {"default": "1-31", "canary": "1-31"}}
    runs = [stack_run(stack) for stack in TEST_STACK_NAMES] + [run_test_stack("canary", {"istio": moved})]
    found: dict[ChartId, set[ValuePath]] = {}
    for run in runs:
        for release in run.by_type(HELM_RELEASE_TYPE):
            found.setdefault(chart_of(release)[0], set()).update(leaf_paths(release.inputs["values"]))
    stale = [
        f"{chart.value}: {text}"
        for chart, table in OWNED.items()
        for text in table
        if not any(under(path, parse_path(text)) for path in found.get(chart, set()))
    ]
    assert stale == []
