"""Upstream conformance: every stack's values and resources match the pinned charts and CRDs.

The mutation tests prove the checks can fail: each plants one realistic mistake (a misplaced or
misspelt value, a wrong CR field) into a real recorded run and expects the exact message.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from meshtools.recording import Run
from tests.conftest import TEST_STACK_NAMES, stack_run, stack_settings
from tests.support import upstream
from tests.support.conformance import RELEASE, chart_of, check_run, is_custom_resource
from versions.table import CHARTS, ChartId, upstream_version


@pytest.mark.parametrize("stack_name", TEST_STACK_NAMES)
def test_test_stack_conforms_to_pinned_charts_and_crds(stack_name: str) -> None:
    assert check_run(stack_name, stack_run(stack_name)) == []


def test_releases_use_versions_of_the_table() -> None:
    for stack_name in TEST_STACK_NAMES:
        s = stack_settings(stack_name)
        assert s.istio.chart_version in CHARTS[ChartId.ISTIOD].versions
        releases = {chart_of(r) for r in stack_run(stack_name).by_type(RELEASE)}
        assert {v for _, v in releases} <= {v for c in CHARTS.values() for v in c.versions}


@pytest.mark.parametrize(("chart_id", "version"), [(c, v) for c, chart in CHARTS.items() for v in chart.versions])
def test_every_pinned_version_has_facts(chart_id: Any, version: str) -> None:
    facts = upstream.chart(chart_id, version)
    assert facts["paths"], f"{chart_id} {version}: empty facts"


def test_every_emitted_kind_has_a_crd_schema() -> None:
    for stack_name in TEST_STACK_NAMES:
        for r in stack_run(stack_name):
            if is_custom_resource(r):
                group, version = r.inputs["apiVersion"].split("/")
                assert upstream.crd(group, version, r.inputs["kind"])["scope"] == "Namespaced"


# --------------------------------------------------------------------------- mutations


def mutate(run: Run, name: str, edit: Any) -> Run:
    resources = []
    for resource in run.resources:
        if resource.name == name:
            inputs = copy.deepcopy(resource.inputs)
            edit(inputs)
            resources.append(replace(resource, inputs=inputs))
        else:
            resources.append(resource)
    return Run(resources=resources, outputs=run.outputs)


ISTIO = CHARTS[ChartId.ISTIOD].default_version
ISTIO_SOURCE = upstream_version(ChartId.ISTIOD, ISTIO)


def test_misplaced_mesh_config_is_caught() -> None:
    def misplace(inputs: dict[str, Any]) -> None:
        inputs["values"]["global"]["meshConfig"] = inputs["values"].pop("meshConfig")

    problems = check_run("prod", mutate(stack_run("prod"), "mesh-istiod", misplace))
    assert problems[0] == (
        f"prod: mesh-istiod values: global.meshConfig is not a value of istiod {ISTIO} (facts of {ISTIO_SOURCE})"
        " — did you mean meshConfig?"
    )


def test_misspelt_collector_value_is_caught() -> None:
    def misspell(inputs: dict[str, Any]) -> None:
        inputs["values"]["otelCollector"]["replicaCont"] = inputs["values"]["otelCollector"].pop("replicaCount")

    assert check_run("dev", mutate(stack_run("dev"), "signoz-release", misspell)) == [
        "dev: signoz-release values: otelCollector.replicaCont is not a value of signoz 0.131.0"
        " — did you mean otelCollector.replicaCount?"
    ]


def test_bad_resource_requirements_are_caught() -> None:
    def bad(inputs: dict[str, Any]) -> None:
        inputs["values"]["otelCollector"]["resources"]["limit"] = {"memory": "1Gi"}

    problems = check_run("dev", mutate(stack_run("dev"), "signoz-release", bad))
    assert problems and all(
        p.startswith("dev: signoz-release values: otelCollector.resources (Kubernetes") for p in problems
    )
    assert all("('limit' was unexpected)" in p for p in problems), "the message names the unknown field"


def test_misspelt_telemetry_field_is_caught() -> None:
    def misspell(inputs: dict[str, Any]) -> None:
        rule = inputs["spec"]["tracing"][0]
        rule["randomSamplingPercent"] = rule.pop("randomSamplingPercentage")

    assert check_run("prod", mutate(stack_run("prod"), "mesh-telemetry", misspell)) == [
        f"prod: mesh-telemetry (Telemetry telemetry.istio.io/v1, Istio CRD {ISTIO_SOURCE}): "
        "spec.tracing[0].randomSamplingPercent is not a field of the schema (did you mean randomSamplingPercentage?)"
    ]


def test_out_of_range_sampling_in_a_cr_is_caught() -> None:
    def too_high(inputs: dict[str, Any]) -> None:
        inputs["spec"]["tracing"][0]["randomSamplingPercentage"] = 150

    assert check_run("prod", mutate(stack_run("prod"), "ns-checkout-telemetry", too_high)) == [
        f"prod: ns-checkout-telemetry (Telemetry telemetry.istio.io/v1, Istio CRD {ISTIO_SOURCE}): "
        "spec.tracing.0.randomSamplingPercentage: 150 is greater than the maximum of 100"
    ]


def test_bad_mtls_mode_in_a_cr_is_caught() -> None:
    def bad_mode(inputs: dict[str, Any]) -> None:
        inputs["spec"]["mtls"]["mode"] = "ON"

    [problem] = check_run("prod", mutate(stack_run("prod"), "mesh-peer-authentication", bad_mode))
    assert problem.startswith(
        f"prod: mesh-peer-authentication (PeerAuthentication security.istio.io/v1, Istio CRD {ISTIO_SOURCE}): "
    )
    assert "spec.mtls.mode: 'ON' is not one of" in problem


def test_design_note_kiali_tracing_is_caught() -> None:
    def seed_shape(inputs: dict[str, Any]) -> None:
        inputs["values"]["external_services"]["tracing"] = {"enabled": True, "provider": "custom", "custom_url": "x"}

    problems = check_run("dev", mutate(stack_run("dev"), "kiali-release", seed_shape))
    assert sorted(problems) == [
        "dev: kiali-release values (as Kiali config): external_services.tracing.custom_url"
        " is not a field of the schema",
        "dev: kiali-release values (as Kiali config): external_services.tracing.provider: 'custom' is not one of "
        "['jaeger', 'tempo']",
    ]


def test_unknown_mesh_config_field_is_caught() -> None:
    def legacy(inputs: dict[str, Any]) -> None:
        inputs["values"]["meshConfig"]["extensionProviders"][0]["zipkin"]["address"] = "collector:9411"

    assert check_run("dev", mutate(stack_run("dev"), "mesh-istiod", legacy)) == [
        "dev: mesh-istiod values: meshConfig.extensionProviders[0].zipkin.address: not a field of "
        "ZipkinTracingProvider (istio.io/api)"
    ]


def test_a_misspelt_mesh_config_field_gets_a_did_you_mean() -> None:
    def misspell(inputs: dict[str, Any]) -> None:
        inputs["values"]["meshConfig"]["enableTracng"] = True
        inputs["values"]["meshConfig"]["defaultConfig"]["proxyStatsMatcher"]["inclusionPrefixes"] = "tracing"

    assert check_run("dev", mutate(stack_run("dev"), "mesh-istiod", misspell)) == [
        "dev: mesh-istiod values: meshConfig.defaultConfig.proxyStatsMatcher.inclusionPrefixes: must be a list",
        "dev: mesh-istiod values: meshConfig.enableTracng: not a field of MeshConfig (istio.io/api); did you mean "
        "enableTracing?",
    ]


def test_provider_name_mismatch_is_caught() -> None:
    def rename(inputs: dict[str, Any]) -> None:
        inputs["spec"]["tracing"][0]["providers"] = [{"name": "opentelemetry"}]

    assert check_run("dev", mutate(stack_run("dev"), "mesh-telemetry", rename)) == [
        "dev: mesh-telemetry: tracing provider 'opentelemetry' is not in meshConfig"
    ]


def test_bad_pdb_field_is_caught_for_every_kubernetes_version() -> None:
    def misspell(inputs: dict[str, Any]) -> None:
        inputs["spec"]["maxUnavailble"] = inputs["spec"].pop("maxUnavailable")

    problems = check_run("prod", mutate(stack_run("prod"), "signoz-collector-pdb", misspell))
    assert [p.split(":")[1].strip() for p in problems] == [
        "signoz-collector-pdb (PodDisruptionBudget, Kubernetes 1.32.0)"
    ] + [f"signoz-collector-pdb (PodDisruptionBudget, Kubernetes 1.3{v}.0)" for v in range(3, 7)]
    assert all("maxUnavailble" in p for p in problems)


def test_a_misspelt_security_context_field_is_caught_for_every_kubernetes_version() -> None:
    def misspell(inputs: dict[str, Any]) -> None:
        context = inputs["values"]["clickhouse"]["zookeeper"]["containerSecurityContext"]
        context["runAsNonroot"] = context.pop("runAsNonRoot")

    problems = check_run("prod", mutate(stack_run("prod"), "signoz-release", misspell))
    assert len(problems) == 5, "one per supported Kubernetes version"
    assert all(
        p.startswith("prod: signoz-release values: clickhouse.zookeeper.containerSecurityContext (Kubernetes 1.3")
        and p.endswith("Additional properties are not allowed ('runAsNonroot' was unexpected)")
        for p in problems
    )


def test_a_container_field_at_pod_level_is_caught() -> None:
    def misplace(inputs: dict[str, Any]) -> None:
        inputs["values"]["signoz"]["podSecurityContext"]["allowPrivilegeEscalation"] = False

    problems = check_run("prod", mutate(stack_run("prod"), "signoz-release", misplace))
    assert problems and all("'allowPrivilegeEscalation' was unexpected" in p for p in problems)
    assert problems[0].startswith("prod: signoz-release values: signoz.podSecurityContext (Kubernetes ")
