"""IstioMesh in the whole program, on the test stacks: it reports to the sink of the same stack, its
releases are pinned from the version table, it does not wait for SigNoz, and settings choose the
repository of every component's charts.

Whole values are pinned by the golden files; IstioMesh's own behaviour is tested on the component
alone (tests/components/test_istio_mesh.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from components.istio_mesh import mesh_config
from config.reading import Secrets
from config.signoz import DeploySigNoz
from kube import naming
from kube.resources import HELM_RELEASE_TYPE
from meshtools.recording import Run
from program import wiring
from program.wiring import istio_mesh_args
from tests.conftest import raw_settings, stack_run, stack_settings
from tests.test_settings import valid, with_
from versions.table import CHARTS, ChartId, version_key


def values(run: Run, name: str) -> dict[str, Any]:
    release = run.named(name)
    assert release.type == HELM_RELEASE_TYPE
    result: dict[str, Any] = release.inputs["values"]
    return result


def zipkin_provider(run: Run) -> dict[str, Any]:
    [provider] = values(run, "mesh-istiod")["meshConfig"]["extensionProviders"]
    return dict(provider)


def test_istiod_reports_to_the_collector_of_the_same_stack(any_test_stack: str) -> None:
    run = stack_run(any_test_stack)
    provider = zipkin_provider(run)
    zipkin = provider["zipkin"]
    assert f"http://{zipkin['service']}:{zipkin['port']}{naming.ZIPKIN_PATH}" == run.outputs["zipkinEndpoint"]
    assert provider["name"] == run.outputs["tracingProvider"]
    mesh = values(run, "mesh-istiod")["meshConfig"]
    # Tracing by default, and the metrics provider Kiali's graph needs kept next to it.
    assert mesh["defaultProviders"] == {"metrics": ["prometheus"], "tracing": [provider["name"]]}


def test_releases_are_pinned_from_the_version_table(any_test_stack: str) -> None:
    run = stack_run(any_test_stack)
    istio = raw_settings(any_test_stack).get("istio", {})
    listed = {entry["name"]: entry["chartVersion"] for entry in istio.get("revisions", [])}
    for name, chart_id, release in [
        ("mesh-base", ChartId.ISTIO_BASE, "istio-base"),
        ("mesh-istiod", ChartId.ISTIOD, "istiod"),
    ]:
        inputs = run.named(name).inputs
        chart = CHARTS[chart_id]
        version = istio.get("chartVersion", chart.default_version)
        if listed:  # base: the newest control plane's CRDs; istiod: the control plane it always ran
            version = max(listed.values(), key=version_key) if chart_id is ChartId.ISTIO_BASE else listed["default"]
        repository = istio.get("chartRepository", chart.repository)
        if repository.startswith("oci://"):
            assert (inputs["chart"], "repositoryOpts" in inputs) == (f"{repository}/{chart.name}", False)
        else:
            assert (inputs["chart"], inputs["repositoryOpts"]) == (chart.name, {"repo": repository})
        assert (inputs["version"], inputs["name"]) == (version, release)
        assert run.named(name).ignore_changes == ("checksum",)


def test_istio_is_parented_and_independent_of_signoz(any_test_stack: str) -> None:
    run = stack_run(any_test_stack)
    children = [r for r in run if r.parent_name == "mesh"]
    assert {r.name for r in children} >= {"mesh-base", "mesh-istiod", "mesh-telemetry", "mesh-peer-authentication"}
    for child in children:
        assert not any(dep.startswith("signoz") for dep in child.dependency_names), child.name


def test_provider_address_follows_the_signoz_namespace() -> None:
    settings = stack_settings("dev").model_copy(
        update={"signoz": stack_settings("dev").signoz.model_copy(update={"namespace": "tracing"})}
    )
    provider = mesh_config(istio_mesh_args(settings))["extensionProviders"][0]
    assert provider["zipkin"]["service"] == "signoz-otel-collector.tracing.svc.cluster.local"
    assert raw_settings("dev")["signoz"].get("namespace") is None, "the test stack keeps the default namespace"


@pytest.mark.parametrize(
    "repository", ["https://charts.internal.example.com/mesh", "oci://registry.internal.example.com/charts"]
)
def test_an_internal_chart_repository_reaches_every_components_args(any_test_stack: str, repository: str) -> None:
    """Air-gapped: `chartRepository` replaces every public repository, `istio.chartRepository` Istio's
    (each component takes every release from the repository its Args name: tests/components/)."""
    settings = valid(with_(any_test_stack, chartRepository=repository))
    istio_repository = raw_settings(any_test_stack).get("istio", {}).get("chartRepository")
    no_secrets = Secrets(None, None, None, None)
    found = {"istio": wiring.istio_mesh_args(settings).repository}
    if isinstance(settings.signoz, DeploySigNoz):
        found["signoz"] = wiring.signoz_stack_args(settings, settings.signoz, no_secrets).repository
    else:
        found["agent"] = wiring.signoz_agent_args(settings, settings.signoz, no_secrets).repository
    kiali = wiring.kiali_args(settings, no_secrets)
    if kiali is not None:
        found |= {"kiali": kiali.kiali_repository, "prometheus": kiali.prometheus_repository}
    assert found == dict.fromkeys(found, repository) | {"istio": istio_repository or repository}
