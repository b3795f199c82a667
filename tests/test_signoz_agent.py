"""SigNozAgent (signoz.mode remote): no SigNoz here, a traces-only k8s-infra agent, the key from a Secret."""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from config.signoz import MIN_QUEUE_SPANS, RemoteSettings
from kube import naming
from kube.collector_config import CREDENTIAL_ATTRIBUTE_PATTERN
from kube.naming import SIGNOZ_ANNOTATION
from meshtools import plan
from meshtools.recording import Run, changed_resources, fake_secret
from tests.conftest import REMOTE_STACK_NAMES, TEST_STACKS, raw_settings, run_test_stack, stack_run, stack_settings
from tests.support import upstream
from tests.support.rendered import rendered_objects
from versions.table import CHARTS, ChartId

KEY = fake_secret("mesh-tracing:signozIngestKey")
K8S_INFRA_VERSION = CHARTS[ChartId.K8S_INFRA].default_version


def agent_values(run: Run) -> dict[str, Any]:
    values: dict[str, Any] = run.named("signoz-agent-release").inputs["values"]
    return values


def agent_config(run: Run) -> dict[str, Any]:
    config: dict[str, Any] = agent_values(run)["otelAgent"]["config"]
    return config


def dev_remote(remote: dict[str, Any], **secrets: str) -> Run:
    """The dev test stack switched to remote mode with `remote` settings."""
    signoz = {"mode": "remote", "remote": remote, "collector": {"resources": {"limits": {"memory": "256Mi"}}}}
    return run_test_stack("dev", {"signoz": signoz}, secrets=secrets)


@functools.cache
def opt_in() -> Run:
    """The dev test stack in remote mode with log and metric collection turned on."""
    return dev_remote(
        {
            "endpoint": "https://ingest.eu.signoz.cloud:443",
            "auth": "signozCloud",
            "collectLogs": True,
            "collectMetrics": True,
        },
        signozIngestKey=KEY,
    )


@functools.cache
def rendered_agent_config(which: str) -> dict[str, Any]:
    """The agent config file the chart renders for the remote test stack or the opt-in run."""
    run = stack_run("remote") if which == "remote" else opt_in()
    objects = rendered_objects(run)
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


def test_the_agent_release_is_pinned_after_its_secret(remote: Run) -> None:
    release = remote.named("signoz-agent-release")
    chart = CHARTS[ChartId.K8S_INFRA]
    assert (release.inputs["chart"], release.inputs["version"], release.inputs["name"]) == (
        chart.name,
        chart.default_version,
        naming.AGENT_RELEASE,
    )
    assert release.inputs["namespace"] == "signoz"
    assert release.inputs["repositoryOpts"] == {"repo": "https://charts.signoz.io"}
    assert release.dependency_names >= {"signoz-agent-namespace", "signoz-agent-ingest-key"}
    assert release.parent_name == "signoz-agent"
    assert remote.named("signoz-agent-namespace").inputs["metadata"] == {
        "name": "signoz",
        # privileged: the chart mounts node paths (/var/log) into the agent whatever its presets.
        "labels": {"istio-injection": "disabled", "pod-security.kubernetes.io/enforce": "privileged"},
    }


def test_only_the_agent_runs_and_collects_nothing_but_spans(remote: Run) -> None:
    values = agent_values(remote)
    assert values["otelDeployment"] == {"enabled": False}
    assert {name: preset["enabled"] for name, preset in values["presets"].items()} == {
        "logsCollection": False,
        "hostMetrics": False,
        "kubeletMetrics": False,
        "kubernetesAttributes": False,
        "resourceDetection": False,
        "clusterMetrics": False,
        "k8sEvents": False,
        "otlphttpExporter": False,
    }
    assert set(values["presets"]) <= set(upstream.chart(ChartId.K8S_INFRA, K8S_INFRA_VERSION)["agent"]["presets"])
    assert values["otelAgent"]["ports"] == {
        "zipkin": {"enabled": True, "hostPort": 0},
        "otlp": {"enabled": False},
        "otlp-http": {"enabled": False},
        "metrics": {"hostPort": 0},
        "health-check": {"hostPort": 0},
    }
    assert values["otelAgent"]["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    }
    pipelines = agent_config(remote)["service"]["pipelines"]
    assert pipelines["metrics"] == {"receivers": []} and pipelines["logs"] == {"receivers": []}


def test_the_traces_pipeline_has_the_deploy_mode_guarantees(remote: Run) -> None:
    config = agent_config(remote)
    assert config["receivers"] == {"zipkin": {"endpoint": "0.0.0.0:9411"}}
    assert config["service"]["pipelines"]["traces"] == {
        "receivers": ["zipkin"],
        "processors": ["memory_limiter", "resource/mesh-tracing", "attributes/scrub-credentials", "batch"],
        "exporters": ["otlphttp/signoz-remote"],
    }
    assert config["processors"]["memory_limiter"] == {
        "check_interval": "1s",
        "limit_percentage": 80,
        "spike_limit_percentage": 20,
    }
    assert [(a["key"], a["value"]) for a in config["processors"]["resource/mesh-tracing"]["attributes"]] == [
        ("deployment.environment", "production"),
        ("k8s.cluster.name", "prod-us-east-1"),
        ("cloud.region", "us-east-1"),
        ("service.namespace", "shop"),
        ("team", "platform"),
    ]
    assert config["processors"]["attributes/scrub-credentials"] == {
        "actions": [{"pattern": CREDENTIAL_ATTRIBUTE_PATTERN, "action": "delete"}]
    }


def test_a_bounded_retrying_queue_to_the_endpoint(remote: Run) -> None:
    assert agent_config(remote)["exporters"] == {
        "otlphttp/signoz-remote": {
            "endpoint": "https://signoz-ingest.example.com",
            "headers": {"Authorization": "Bearer ${env:SIGNOZ_API_KEY}"},
            "tls": {"insecure_skip_verify": False},
            "sending_queue": {"enabled": True, "sizer": "items", "queue_size": 100_000},
            "retry_on_failure": {"enabled": True, "max_elapsed_time": "1800s"},
        }
    }


def test_the_queue_holds_at_least_one_batch_of_the_chart() -> None:
    """The chart's batch processor sends up to send_batch_size spans at once; a smaller queue
    (counted in spans) would refuse every full batch."""
    batch = upstream.chart(ChartId.K8S_INFRA, K8S_INFRA_VERSION)["agent"]["batch"]
    assert batch["send_batch_size"] <= MIN_QUEUE_SPANS
    with pytest.raises(ValidationError, match="greater than or equal to 10000"):
        RemoteSettings(endpoint="https://x.example.com", queue_spans=MIN_QUEUE_SPANS - 1)


def test_the_agent_serves_its_counters_without_suffixes(remote: Run) -> None:
    [reader] = agent_config(remote)["service"]["telemetry"]["metrics"]["readers"]
    prometheus = reader["pull"]["exporter"]["prometheus"]
    assert (prometheus["host"], prometheus["port"]) == ("0.0.0.0", naming.COLLECTOR_METRICS_PORT), "not localhost"
    assert prometheus["without_type_suffix"] is True, "otelcol_exporter_sent_spans, not …_total"


def test_the_key_comes_from_the_secret_and_is_never_plain(remote: Run) -> None:
    values = agent_values(remote)
    assert (values["apiKeyExistingSecretName"], values["apiKeyExistingSecretKey"]) == ("signoz-ingest-key", "token")
    secret = remote.named("signoz-agent-ingest-key")
    assert secret.inputs["metadata"] == {"name": "signoz-ingest-key", "namespace": "signoz"}
    assert secret.inputs["stringData"] == {"token": KEY} and "stringData" in secret.secret_inputs
    for resource in remote:
        for key, value in resource.inputs.items():
            if key not in resource.secret_inputs:
                assert KEY not in repr(value), f"{resource.name}.{key}"
    assert KEY not in repr(remote.outputs)
    assert "values" not in remote.named("signoz-agent-release").secret_inputs, "the values hold no secret"


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


def test_signoz_cloud_uses_its_ingestion_key_header() -> None:
    run = dev_remote({"endpoint": "https://ingest.eu.signoz.cloud:443", "auth": "signozCloud"}, signozIngestKey=KEY)
    exporter = agent_config(run)["exporters"]["otlphttp/signoz-remote"]
    assert exporter["headers"] == {"signoz-ingestion-key": "${env:SIGNOZ_API_KEY}"}
    assert exporter["endpoint"] == "https://ingest.eu.signoz.cloud:443"


def test_no_auth_needs_no_key_and_creates_no_secret() -> None:
    run = dev_remote({"endpoint": "https://collector.internal.example.com", "auth": "none"})
    assert "headers" not in agent_config(run)["exporters"]["otlphttp/signoz-remote"]
    assert run.maybe("signoz-agent-ingest-key") is None
    assert "apiKeyExistingSecretName" not in agent_values(run)


def test_log_and_metric_collection_are_opt_in() -> None:
    presets = agent_values(opt_in())["presets"]
    assert sorted(name for name, preset in presets.items() if preset["enabled"]) == [
        "hostMetrics",
        "kubeletMetrics",
        "logsCollection",
    ]
    rendered = rendered_agent_config("opt-in")["service"]["pipelines"]
    assert rendered["logs"] == {
        "receivers": ["filelog/k8s"],
        "processors": ["memory_limiter", "resource/mesh-tracing", "batch"],
        "exporters": ["otlphttp/signoz-remote"],
    }
    assert rendered["metrics"]["receivers"] == ["hostmetrics", "kubeletstats"]
    assert rendered["metrics"]["exporters"] == ["otlphttp/signoz-remote"]
    assert rendered["traces"]["processors"][0] == "memory_limiter"


def test_the_rendered_config_keeps_only_the_traces_pipeline() -> None:
    config = rendered_agent_config("remote")
    assert set(config["service"]["pipelines"]) == {"traces"}
    assert config["service"]["pipelines"]["traces"]["processors"][0] == "memory_limiter"


@pytest.mark.parametrize("which", ["remote", "opt-in"])
def test_every_component_exists_in_the_image_the_chart_runs(which: str) -> None:
    facts = upstream.chart(ChartId.K8S_INFRA, CHARTS[ChartId.K8S_INFRA].default_version)["agent"]
    contrib = upstream.contrib_components(facts["image_tag"])
    assert (facts["image_repository"], contrib["distribution"]) == (
        "otel/opentelemetry-collector-contrib",
        "otelcol-contrib",
    )
    config = rendered_agent_config(which)
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


def test_header_values_reference_only_the_environment(remote: Run) -> None:
    headers = agent_config(remote)["exporters"]["otlphttp/signoz-remote"]["headers"]
    assert all(re.fullmatch(r"(Bearer )?\$\{env:SIGNOZ_API_KEY\}", v) for v in headers.values())


@pytest.mark.parametrize("stack", ["remote", "prod"])
def test_the_plan_masks_the_ingest_key(stack: str) -> None:
    text = plan.render(stack, TEST_STACKS)
    assert KEY not in text
    secret = "signoz-agent-ingest-key" if stack == "remote" else "signoz-ingest-key"
    assert yaml.safe_load(text)["resources"][secret]["inputs"]["stringData"] == {"token": "[secret]"}
