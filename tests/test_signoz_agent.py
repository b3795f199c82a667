"""SigNozAgent (signoz.mode remote) in the whole program: no SigNoz here, the mesh and Kiali point at the
agent and the central SigNoz, the chart renders a traces-only config of components its image has, the
ingest key stays masked.

SigNozAgent's own behaviour is tested on the component alone (tests/components/test_signoz_agent.py)."""

from __future__ import annotations

import functools
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from config.signoz import MIN_QUEUE_SPANS, RemoteSettings
from kube import naming
from kube.naming import SIGNOZ_ANNOTATION
from meshtools import plan
from meshtools.recording import Run, changed_resources, fake_secret
from tests.conftest import REMOTE_STACK_NAMES, TEST_STACKS, raw_settings, run_test_stack, stack_run, stack_settings
from tests.support import upstream
from tests.support.rendered import rendered_objects
from versions.table import CHARTS, ChartId

KEY = fake_secret("mesh-tracing:signozIngestKey")
K8S_INFRA_VERSION = CHARTS[ChartId.K8S_INFRA].default_version


@functools.cache
def rendered_agent_config() -> dict[str, Any]:
    """The agent config file the chart renders for the remote test stack."""
    objects = rendered_objects(stack_run("remote"))
    [configmap] = [m.object for m in objects if m.title == "ConfigMap signoz/k8s-infra-otel-agent"]
    config: dict[str, Any] = yaml.safe_load(configmap["data"]["otel-agent-config.yaml"])
    return config


def test_the_example_is_a_remote_stack() -> None:
    assert REMOTE_STACK_NAMES == ("remote",)


def test_no_signoz_clickhouse_or_zookeeper(remote: Run) -> None:
    charts = {r.inputs["chart"] for r in remote.by_type("kubernetes:helm.sh/v3:Release")}
    assert charts == {"base", "istiod", "kiali-server", "k8s-infra"}
    names = {r.name for r in remote}
    assert not {"signoz-release", "signoz-namespace", "signoz-clickhouse-password"} & names
    assert not [n for n in names if "clickhouse" in n or "zookeeper" in n]


def test_the_queue_holds_at_least_one_batch_of_the_chart() -> None:
    """The chart's batch processor sends up to send_batch_size spans at once; a smaller queue
    (counted in spans) would refuse every full batch."""
    batch = upstream.chart(ChartId.K8S_INFRA, K8S_INFRA_VERSION)["agent"]["batch"]
    assert batch["send_batch_size"] <= MIN_QUEUE_SPANS
    with pytest.raises(ValidationError, match="greater than or equal to 10000"):
        RemoteSettings(endpoint="https://x.example.com", queue_spans=MIN_QUEUE_SPANS - 1)


def test_the_mesh_reports_to_the_agent(remote: Run) -> None:
    [provider] = remote.named("mesh-istiod").inputs["values"]["meshConfig"]["extensionProviders"]
    assert provider["zipkin"]["service"] == "k8s-infra-otel-agent.signoz.svc.cluster.local"
    assert provider["zipkin"]["service"] == naming.agent_fqdn(stack_settings("remote").signoz)
    assert naming.agent_selector_labels()["app.kubernetes.io/instance"] == naming.AGENT_RELEASE


def test_outputs_say_where_spans_go(remote: Run) -> None:
    assert remote.outputs["signozMode"] == "remote"
    assert remote.outputs["tracesDestination"] == {
        "mode": "remote",
        "endpoint": "https://signoz-ingest.example.com/v1/traces",
        "auth": "bearer",
        "via": "k8s-infra-otel-agent.signoz.svc.cluster.local:9411",
    }
    assert remote.outputs["zipkinEndpoint"] == "http://k8s-infra-otel-agent.signoz.svc.cluster.local:9411/api/v2/spans"
    for absent in ("otlpGrpcEndpoint", "otlpHttpEndpoint", "signozUiService", "traceRetentionDays", "ingestEndpoint"):
        assert remote.outputs[absent] is None, absent


def test_kiali_links_to_the_central_signoz(remote: Run) -> None:
    values = remote.named("kiali-release").inputs["values"]
    assert {"title": "Traces in SigNoz", "annotation": SIGNOZ_ANNOTATION} in values["additional_display_details"]
    assert remote.outputs["signozLinkTemplate"] == "https://signoz.example.com/services/<app>.<namespace>"


def test_the_rendered_config_keeps_only_the_traces_pipeline() -> None:
    config = rendered_agent_config()
    assert set(config["service"]["pipelines"]) == {"traces"}
    assert config["service"]["pipelines"]["traces"]["processors"][0] == "memory_limiter"


def test_every_component_exists_in_the_image_the_chart_runs() -> None:
    facts = upstream.chart(ChartId.K8S_INFRA, CHARTS[ChartId.K8S_INFRA].default_version)["agent"]
    contrib = upstream.contrib_components(facts["image_tag"])
    assert (facts["image_repository"], contrib["distribution"]) == (
        "otel/opentelemetry-collector-contrib",
        "otelcol-contrib",
    )
    config = rendered_agent_config()
    used: set[tuple[str, str]] = {("extensions", name) for name in config["service"]["extensions"]}
    for pipeline in config["service"]["pipelines"].values():
        for kind in ("receivers", "processors", "exporters"):
            used |= {(kind, name) for name in pipeline[kind]}
            assert set(pipeline[kind]) <= set(config[kind]), (kind, set(pipeline[kind]) - set(config[kind]))
    assert {name.split("/")[0] for _, name in used} >= {"zipkin", "memory_limiter", "resource", "batch", "otlphttp"}
    for kind, name in sorted(used):
        assert upstream.component_package(kind, name) in contrib[kind], name
    # `${env:…}` in the exporter's header needs the env config provider in the build.
    assert "envprovider" in contrib["providers"]


def test_changing_the_endpoint_changes_only_the_agent(remote: Run) -> None:
    signoz = raw_settings("remote")["signoz"]
    signoz = signoz | {"remote": signoz["remote"] | {"endpoint": "https://other.example.com"}}
    changed = changed_resources(remote, run_test_stack("remote", {"signoz": signoz}, previous=remote))
    assert changed == {"signoz-agent-release": "changed"}


@pytest.mark.parametrize("stack", ["remote", "prod"])
def test_the_plan_masks_the_ingest_key(stack: str) -> None:
    text = plan.render(stack, TEST_STACKS)
    assert KEY not in text
    secret = "signoz-agent-ingest-key" if stack == "remote" else "signoz-ingest-key"
    assert yaml.safe_load(text)["resources"][secret]["inputs"]["stringData"] == {"token": "[secret]"}
