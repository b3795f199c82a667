"""SigNozAgent built alone from its Args: what it registers (golden files per scenario) and its wiring:
a traces-only agent with the deploy mode's processors, its key only in a Secret it starts after, the
header of each auth, opt-in log and metric collection, what it reports as a TraceSink."""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest
import yaml

from components.signoz_agent import SigNozAgent
from components.trace_sink import TraceSink
from kube import naming
from tests.components.builders import SIGNOZ_REPOSITORY, TEST_SECRETS, signoz_agent_args
from tests.components.scenarios import SCENARIOS, recorded
from tests.support import upstream
from tests.support.components import Recorded, children_of, outside_the_tree, record, releases_not_from
from tests.support.rendered import rendered_objects
from versions.table import CHARTS, ChartId

KEY = TEST_SECRETS["ingest_key"]
K8S_INFRA_VERSION = CHARTS[ChartId.K8S_INFRA].default_version
OCI = "oci://registry.internal.example.com/charts"


def as_sink(agent: SigNozAgent) -> TraceSink:
    """SigNozAgent is a TraceSink (mypy checks the Protocol here)."""
    return agent


def agent_values(agent: Recorded[Any]) -> dict[str, Any]:
    values: dict[str, Any] = agent.named("signoz-agent-release").inputs["values"]
    return values


def agent_config(agent: Recorded[Any]) -> dict[str, Any]:
    config: dict[str, Any] = agent_values(agent)["otelAgent"]["config"]
    return config


@functools.cache
def rendered_opt_in_config() -> dict[str, Any]:
    """The agent config file the chart renders for the scenario that collects logs and metrics."""
    objects = rendered_objects(recorded("signoz_agent", "signoz_cloud").run)
    [configmap] = [m.object for m in objects if m.title == "ConfigMap signoz/k8s-infra-otel-agent"]
    config: dict[str, Any] = yaml.safe_load(configmap["data"]["otel-agent-config.yaml"])
    return config


@pytest.mark.parametrize("scenario", SCENARIOS["signoz_agent"])
def test_every_resource_is_its_own_child_and_the_release_waits_for_its_key(scenario: str) -> None:
    """The pods read the key at start (secretKeyRef): the Secret exists before the release."""
    agent = recorded("signoz_agent", scenario)
    assert outside_the_tree(agent) == [] and children_of(agent) == agent.resources
    key = {"signoz-agent-ingest-key"} & agent.names()
    assert agent.named("signoz-agent-release").dependency_names == {"signoz-agent-namespace", *key}


@pytest.mark.parametrize("scenario", SCENARIOS["signoz_agent"])
def test_the_namespace_is_excluded_from_injection_and_privileged(scenario: str) -> None:
    """privileged: the chart mounts node paths (/var/log) into the agent whatever its presets."""
    labels = recorded("signoz_agent", scenario).named("signoz-agent-namespace").inputs["metadata"]["labels"]
    assert labels == {"istio-injection": "disabled", "pod-security.kubernetes.io/enforce": "privileged"}


@pytest.mark.parametrize("scenario", SCENARIOS["signoz_agent"])
def test_header_values_reference_only_the_environment(scenario: str) -> None:
    exporter = agent_config(recorded("signoz_agent", scenario))["exporters"][naming.AGENT_EXPORTER]
    assert all(re.fullmatch(r"(Bearer )?\$\{env:SIGNOZ_API_KEY\}", v) for v in exporter.get("headers", {}).values())


def test_only_the_agent_runs_and_collects_nothing_but_spans() -> None:
    values = agent_values(recorded("signoz_agent", "bearer"))
    assert values["otelDeployment"] == {"enabled": False}
    assert not [name for name, preset in values["presets"].items() if preset["enabled"]]
    assert set(values["presets"]) <= set(upstream.chart(ChartId.K8S_INFRA, K8S_INFRA_VERSION)["agent"]["presets"])
    ports = values["otelAgent"]["ports"]
    assert sorted(name for name, port in ports.items() if port.get("enabled", True)) == [
        "health-check",
        "metrics",
        "zipkin",
    ]
    assert {port.get("hostPort") for port in ports.values() if port.get("enabled", True)} == {0}, "no node port opened"
    pipelines = agent_config(recorded("signoz_agent", "bearer"))["service"]["pipelines"]
    assert pipelines["metrics"] == {"receivers": []} and pipelines["logs"] == {"receivers": []}


def test_the_traces_pipeline_has_the_deploy_mode_guarantees() -> None:
    config = agent_config(recorded("signoz_agent", "bearer"))
    assert config["receivers"] == {"zipkin": {"endpoint": "0.0.0.0:9411"}}
    assert config["service"]["pipelines"]["traces"] == {
        "receivers": ["zipkin"],
        "processors": ["memory_limiter", "resource/mesh-tracing", "attributes/scrub-credentials", "batch"],
        "exporters": [naming.AGENT_EXPORTER],
    }


def test_the_agent_serves_its_counters_without_suffixes() -> None:
    [reader] = agent_config(recorded("signoz_agent", "bearer"))["service"]["telemetry"]["metrics"]["readers"]
    prometheus = reader["pull"]["exporter"]["prometheus"]
    assert (prometheus["host"], prometheus["port"]) == ("0.0.0.0", naming.COLLECTOR_METRICS_PORT), "not localhost"
    assert prometheus["without_type_suffix"] is True, "otelcol_exporter_sent_spans, not …_total"


def test_the_key_comes_from_the_secret_and_is_never_plain() -> None:
    agent = recorded("signoz_agent", "bearer")
    values = agent_values(agent)
    assert (values["apiKeyExistingSecretName"], values["apiKeyExistingSecretKey"]) == (
        naming.INGEST_KEY_SECRET,
        naming.INGEST_KEY_SECRET_KEY,
    )
    secret = agent.named("signoz-agent-ingest-key")
    assert secret.inputs["metadata"] == {"name": naming.INGEST_KEY_SECRET, "namespace": "signoz"}
    assert secret.inputs["stringData"] == {naming.INGEST_KEY_SECRET_KEY: KEY} and "stringData" in secret.secret_inputs
    for resource in agent.resources:
        for key, value in resource.inputs.items():
            if key not in resource.secret_inputs:
                assert KEY not in repr(value), f"{resource.name}.{key}"
    assert "values" not in agent.named("signoz-agent-release").secret_inputs, "the values hold no secret"
    exporter = agent_config(agent)["exporters"][naming.AGENT_EXPORTER]
    assert exporter["headers"] == {"Authorization": "Bearer ${env:SIGNOZ_API_KEY}"}


def test_signoz_cloud_uses_its_ingestion_key_header() -> None:
    exporter = agent_config(recorded("signoz_agent", "signoz_cloud"))["exporters"][naming.AGENT_EXPORTER]
    assert exporter["headers"] == {"signoz-ingestion-key": "${env:SIGNOZ_API_KEY}"}
    assert exporter["endpoint"] == "https://ingest.eu.signoz.cloud:443"


def test_no_auth_needs_no_key_and_creates_no_secret() -> None:
    agent = recorded("signoz_agent", "no_auth_insecure")
    exporter = agent_config(agent)["exporters"][naming.AGENT_EXPORTER]
    assert "headers" not in exporter
    assert exporter["tls"] == {"insecure_skip_verify": True}
    assert agent.maybe("signoz-agent-ingest-key") is None
    assert "apiKeyExistingSecretName" not in agent_values(agent)


def test_log_and_metric_collection_are_opt_in() -> None:
    presets = agent_values(recorded("signoz_agent", "signoz_cloud"))["presets"]
    assert sorted(name for name, preset in presets.items() if preset["enabled"]) == [
        "hostMetrics",
        "kubeletMetrics",
        "logsCollection",
    ]
    rendered = rendered_opt_in_config()["service"]["pipelines"]
    assert rendered["logs"] == {
        "receivers": ["filelog/k8s"],
        "processors": ["memory_limiter", "resource/mesh-tracing", "batch"],
        "exporters": [naming.AGENT_EXPORTER],
    }
    assert rendered["metrics"]["receivers"] == ["hostmetrics", "kubeletstats"]
    assert rendered["metrics"]["exporters"] == [naming.AGENT_EXPORTER]
    assert rendered["traces"]["processors"][0] == "memory_limiter"


def test_every_component_it_collects_with_exists_in_the_image_the_chart_runs() -> None:
    facts = upstream.chart(ChartId.K8S_INFRA, K8S_INFRA_VERSION)["agent"]
    contrib = upstream.contrib_components(facts["image_tag"])
    config = rendered_opt_in_config()
    used: set[tuple[str, str]] = {("extensions", name) for name in config["service"]["extensions"]}
    for pipeline in config["service"]["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            used |= {(kind, name) for name in pipeline[kind]}
            assert set(pipeline[kind]) <= set(config[kind]), (kind, set(pipeline[kind]) - set(config[kind]))
    for kind, name in sorted(used):
        assert upstream.component_package(kind, name) in contrib[kind], name


def test_reports_where_spans_go_and_is_ready_as_a_whole() -> None:
    agent = recorded("signoz_agent", "bearer")
    assert set(agent.outputs) == {"zipkinEndpoint", "tracesDestination"}
    assert agent.outputs == agent.component.outputs
    sink = as_sink(agent.component)
    assert list(sink.ready) == [agent.component]
    assert sink.outputs["zipkinEndpoint"] == "http://k8s-infra-otel-agent.signoz.svc.cluster.local:9411/api/v2/spans"
    assert agent.outputs["tracesDestination"]["endpoint"] == "https://signoz-ingest.example.com/v1/traces"


def test_the_release_comes_from_the_repository_it_is_given() -> None:
    agent = record(lambda: SigNozAgent("signoz-agent", signoz_agent_args(repository=OCI)))
    assert releases_not_from(agent, OCI) == [] and "signoz-agent-release" in agent.names()
    assert releases_not_from(recorded("signoz_agent", "bearer"), SIGNOZ_REPOSITORY) == []
