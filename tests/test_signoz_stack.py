"""SigNozStack: the collector accepts Zipkin, keeps the chart's pipeline, and the password stays secret."""

from __future__ import annotations

import re
from typing import Any

import pytest

from config.problems import SettingsError
from kube import naming
from kube.collector_config import (
    CREDENTIAL_ATTRIBUTE_PATTERN,
    INGEST_TOKEN_FILE,
)
from meshtools.recording import Run, changed_resources, fake_secret
from tests.conftest import run_test_stack, stack_run, stack_settings
from tests.support import upstream
from tests.support.modes import deployed
from versions.table import CHARTS, ChartId


def collector(run: Run) -> dict[str, Any]:
    result: dict[str, Any] = run.named("signoz-release").inputs["values"]["otelCollector"]
    return result


def test_release_is_pinned_in_its_namespace(deploy_test_stack: str) -> None:
    run = stack_run(deploy_test_stack)
    namespace = stack_settings(deploy_test_stack).signoz.namespace
    release = run.named("signoz-release").inputs
    chart = CHARTS[ChartId.SIGNOZ]
    assert (release["chart"], release["version"], release["name"], release["namespace"]) == (
        chart.name,
        chart.default_version,
        "signoz",
        namespace,
    )
    assert release["repositoryOpts"] == {"repo": chart.repository}
    assert run.named("signoz-release").parent_name == "signoz"
    assert run.named("signoz-release").dependency_names >= {"signoz-namespace"}


def test_namespace_is_excluded_from_injection(deploy_test_stack: str) -> None:
    metadata = stack_run(deploy_test_stack).named("signoz-namespace").inputs["metadata"]
    assert metadata == {
        "name": stack_settings(deploy_test_stack).signoz.namespace,
        # baseline: the chart offers no container security values for some of its pods.
        "labels": {"istio-injection": "disabled", "pod-security.kubernetes.io/enforce": "baseline"},
    }


def test_zipkin_port_and_receiver(deploy_test_stack: str) -> None:
    values = collector(stack_run(deploy_test_stack))
    if stack_settings(deploy_test_stack).tail_sampling.enabled:
        assert values["ports"] == {} and "receivers" not in values["config"], "the trace router receives Zipkin"
        return
    assert values["ports"]["zipkin"] == {"enabled": True}
    assert values["config"]["receivers"]["zipkin"] == {"endpoint": "0.0.0.0:9411"}
    if deployed(stack_settings(deploy_test_stack)).ingest is None:
        assert set(values["ports"]) == {"zipkin"} and set(values["config"]["receivers"]) == {"zipkin"}
        assert "ingress" not in values and "extensions" not in values["config"], "nothing is exposed"


def test_dev_traces_pipeline(dev: Run) -> None:
    assert collector(dev)["config"]["service"] == {
        "pipelines": {
            "traces": {
                "receivers": ["otlp", "jaeger", "zipkin"],
                "processors": [
                    "memory_limiter",
                    "resource/mesh-tracing",
                    "attributes/scrub-credentials",
                    "signozspanmetrics/delta",
                    "batch",
                ],
                "exporters": ["clickhousetraces", "metadataexporter", "signozmeter"],
            }
        }
    }


def test_dev_processors(dev: Run) -> None:
    processors = collector(dev)["config"]["processors"]
    assert processors["memory_limiter"] == {
        "check_interval": "1s",
        "limit_percentage": 80,
        "spike_limit_percentage": 20,
    }
    assert processors["resource/mesh-tracing"] == {
        "attributes": [
            {"key": "deployment.environment", "value": "dev", "action": "upsert"},
            {"key": "k8s.cluster.name", "value": "dev-kind", "action": "upsert"},
            {"key": "service.namespace", "value": "shop", "action": "upsert"},
            {"key": "team", "value": "platform", "action": "upsert"},
        ]
    }
    assert processors["attributes/scrub-credentials"] == {
        "actions": [{"pattern": CREDENTIAL_ATTRIBUTE_PATTERN, "action": "delete"}]
    }


def test_prod_resource_attributes(prod: Run) -> None:
    attributes = collector(prod)["config"]["processors"]["resource/mesh-tracing"]["attributes"]
    assert [(a["key"], a["value"]) for a in attributes] == [
        ("deployment.environment", "production"),
        ("k8s.cluster.name", "prod-eu-west-1"),
        ("cloud.region", "eu-west-1"),
        ("service.namespace", "shop"),
        ("team", "platform"),
    ]


@pytest.mark.parametrize(
    ("key", "scrubbed"),
    [
        ("authorization", True),
        ("http.request.header.authorization", True),
        ("Cookie", True),
        ("http.response.header.set-cookie", True),
        ("x-api-key", True),
        ("db.password", True),
        ("http.url", False),
        ("http.status_code", False),
        ("gen_ai.usage.input_tokens", False),
        ("istio.canonical_service", False),
    ],
)
def test_credential_pattern(key: str, scrubbed: bool) -> None:
    # Python's re agrees with RE2 on this pattern (no look-around, no back-references).
    assert bool(re.fullmatch(CREDENTIAL_ATTRIBUTE_PATTERN, key)) is scrubbed


def test_scrubbing_can_be_switched_off(edge: Run) -> None:
    values = collector(edge)["config"]
    assert "attributes/scrub-credentials" not in values["processors"]
    assert "attributes/scrub-credentials" not in values["service"]["pipelines"]["traces"]["processors"]
    assert values["processors"]["memory_limiter"]["limit_percentage"] == 70
    assert values["processors"]["memory_limiter"]["spike_limit_percentage"] == 15


def test_every_pipeline_component_is_defined_and_built_in(deploy_test_stack: str) -> None:
    facts = upstream.chart(ChartId.SIGNOZ, CHARTS[ChartId.SIGNOZ].default_version)["collector"]
    config = collector(stack_run(deploy_test_stack))["config"]
    traces = config["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        defined = set(facts[kind]) | set(config.get(kind, {}))
        if kind == "exporters":
            defined |= set(facts["connectors"])
        assert set(traces[kind]) <= defined, (kind, set(traces[kind]) - defined)
    assert set(config["service"].get("extensions", [])) <= set(config.get("extensions", {})) | set(
        facts["service_extensions"]
    )
    packages = upstream.collector_packages(facts["image_tag"])
    for kind in ("receivers", "processors", "extensions"):
        for name in config.get(kind, {}):
            assert upstream.component_package(kind, name) in packages, name


def test_sizing_per_stack(dev: Run, prod: Run) -> None:
    assert {k: collector(dev)[k] for k in ("replicaCount", "resources", "autoscaling")} == {
        "replicaCount": 1,
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        "autoscaling": {"enabled": False, "minReplicas": 2, "maxReplicas": 6, "targetCPUUtilizationPercentage": 70},
    }
    assert {k: collector(prod)[k] for k in ("replicaCount", "autoscaling")} == {
        "replicaCount": 2,
        "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 8, "targetCPUUtilizationPercentage": 70},
    }
    assert collector(prod)["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}


def test_clickhouse_layout_and_storage(dev: Run, prod: Run, edge: Run) -> None:
    dev_ch = dev.named("signoz-release").inputs["values"]["clickhouse"]
    prod_ch = prod.named("signoz-release").inputs["values"]["clickhouse"]
    sizing = ("replicaCount", "resources")
    assert (dev_ch["persistence"], dev_ch["layout"], {k: dev_ch["zookeeper"][k] for k in sizing}) == (
        {"size": "10Gi"},
        {"shardsCount": 1, "replicasCount": 1},
        {
            "replicaCount": 1,
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1536Mi"}},
        },
    )
    assert (prod_ch["persistence"], prod_ch["layout"], {k: prod_ch["zookeeper"][k] for k in sizing}) == (
        {"size": "200Gi"},
        {"shardsCount": 1, "replicasCount": 2},
        {
            "replicaCount": 3,
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1536Mi"}},
        },
    )
    assert edge.named("signoz-release").inputs["values"]["clickhouse"]["persistence"] == {
        "size": "20Gi",
        "storageClass": "fast-ssd",
    }


def test_pdb_selects_the_collector_pods(prod: Run, edge: Run) -> None:
    assert edge.named("signoz-collector-pdb").inputs["metadata"]["namespace"] == "observability", "3 replicas"
    pdb = prod.named("signoz-collector-pdb")
    assert pdb.type == "kubernetes:policy/v1:PodDisruptionBudget"
    assert pdb.inputs["metadata"] == {"name": "signoz-otel-collector", "namespace": "signoz"}
    selector = pdb.inputs["spec"]["selector"]["matchLabels"]
    assert selector == {
        "app.kubernetes.io/name": "signoz",
        "app.kubernetes.io/instance": "signoz",
        "app.kubernetes.io/component": "otel-collector",
    }
    chart_labels = upstream.chart(ChartId.SIGNOZ, CHARTS[ChartId.SIGNOZ].default_version)["collector"][
        "pod_match_labels"
    ]
    assert chart_labels.items() <= selector.items()
    assert pdb.inputs["spec"]["maxUnavailable"] == 1


def test_dev_has_no_pdb_for_a_single_replica(dev: Run) -> None:
    assert dev.maybe("signoz-collector-pdb") is None


def test_prod_release_and_namespace_are_protected(dev: Run, prod: Run) -> None:
    assert prod.named("signoz-release").protect and prod.named("signoz-namespace").protect
    assert not dev.named("signoz-release").protect


def test_generated_password_is_secret_and_never_plain(dev: Run) -> None:
    release = dev.named("signoz-release")
    password = release.inputs["values"]["clickhouse"]["password"]
    assert (
        password == dev.state[("random:index/randomPassword:RandomPassword", "signoz-clickhouse-password")][1]["result"]
    ), "the generated password, not a literal"
    assert dev.named("signoz-clickhouse-password").inputs["length"] == 32
    assert "values" in release.secret_inputs
    assert "signoz-clickhouse-password" in release.dependency_names
    _assert_only_secret(dev, password)


def test_configured_password_is_used_and_stays_secret(edge: Run) -> None:
    configured = fake_secret("mesh-tracing:clickhousePassword")
    assert edge.maybe("signoz-clickhouse-password") is None
    assert edge.named("signoz-release").inputs["values"]["clickhouse"]["password"] == configured
    _assert_only_secret(edge, configured)


def test_generated_password_does_not_churn(dev: Run) -> None:
    """Kept from state on the next run; a password made anew on every run would show as a change."""
    again = run_test_stack("dev", previous=dev)
    assert changed_resources(dev, again) == {}
    fresh = run_test_stack("dev")
    assert changed_resources(dev, fresh) == {"kiali-release": "changed", "signoz-release": "changed"}, (
        "a fresh deploy generates new values: the mock is not a constant"
    )


def _assert_only_secret(run: Run, password: str) -> None:
    for resource in run:
        for key, value in resource.inputs.items():
            if key not in resource.secret_inputs:
                assert password not in repr(value), f"{resource.name}.{key} carries the password in plain text"
    assert password not in repr(run.outputs)


def test_changing_resource_attributes_changes_only_this_release(dev: Run) -> None:
    changed = changed_resources(dev, run_test_stack("dev", {"resourceAttributes": {"team": "payments"}}, previous=dev))
    assert changed == {"signoz-release": "changed"}


def test_bad_attribute_keys_are_config_errors() -> None:
    with pytest.raises(SettingsError) as caught:
        run_test_stack("dev", {"resourceAttributes": {"has space": "x", "ok": ""}})
    assert [str(p) for p in caught.value.problems] == [
        "mesh-tracing:resourceAttributes[\"has space\"]: got 'has space' — must be an attribute key: a letter or '_' "
        "first, then letters, digits, '_', '.', '-' or '/'",
        "mesh-tracing:resourceAttributes[\"ok\"]: got '' — String should have at least 1 character",
    ]


def test_outputs(prod: Run) -> None:
    assert {
        k: prod.outputs[k] for k in ("zipkinEndpoint", "otlpGrpcEndpoint", "otlpHttpEndpoint", "signozUiService")
    } == {
        "zipkinEndpoint": "http://signoz-otel-collector.signoz.svc.cluster.local:9411/api/v2/spans",
        "otlpGrpcEndpoint": "signoz-otel-collector.signoz.svc.cluster.local:4317",
        "otlpHttpEndpoint": "http://signoz-otel-collector.signoz.svc.cluster.local:4318",
        "signozUiService": "signoz.signoz.svc.cluster.local:8080",
    }
    assert prod.outputs["traceRetentionDays"] == 15


def test_prod_ui_ingress_and_external_url(prod: Run, dev: Run) -> None:
    ui = prod.named("signoz-release").inputs["values"]["signoz"]
    assert ui["ingress"]["hosts"] == [
        {"host": "signoz.example.com", "paths": [{"path": "/", "pathType": "ImplementationSpecific", "port": 8080}]}
    ]
    assert ui["env"] == {"signoz_alertmanager_signoz_external__url": "https://signoz.example.com"}
    assert {"ingress", "env"}.isdisjoint(dev.named("signoz-release").inputs["values"]["signoz"])


# --------------------------------------------------------------------------- the central side: signoz.ingest


def test_ingest_adds_an_authenticated_receiver_next_to_the_in_cluster_ones(prod: Run) -> None:
    config = collector(prod)["config"]
    assert config["receivers"]["otlp/ingest"] == {
        "protocols": {"http": {"endpoint": "0.0.0.0:4319", "auth": {"authenticator": "bearertokenauth/ingest"}}}
    }
    assert config["extensions"] == {"bearertokenauth/ingest": {"filename": INGEST_TOKEN_FILE}}
    assert config["service"]["extensions"] == ["health_check", "zpages", "pprof", "bearertokenauth/ingest"]
    pipelines = config["service"]["pipelines"]
    assert pipelines["traces"]["receivers"] == ["otlp", "jaeger", "zipkin"], "in-cluster senders stay as they are"
    ingest = pipelines["traces/ingest"]
    assert ingest["receivers"] == ["otlp/ingest"]
    assert ingest["processors"][0] == "memory_limiter", "other clusters' spans are limited too"
    assert "resource/mesh-tracing" not in ingest["processors"], "their agent tagged them: not re-tagged as this cluster"
    assert ingest["exporters"] == pipelines["traces"]["exporters"], "stored like local spans"


def test_ingest_port_key_file_and_tls_ingress(prod: Run) -> None:
    values = collector(prod)
    assert values["ports"]["otlp-ingest"] == {
        "enabled": True,
        "containerPort": 4319,
        "servicePort": 4319,
        "protocol": "TCP",
    }
    assert len("otlp-ingest") <= 15, "a Service port name"
    # Next to the scratch directory of the read-only root filesystem.
    assert values["extraVolumes"] == [
        {"name": "scratch", "emptyDir": {}},
        {"name": "ingest-key", "secret": {"secretName": "signoz-ingest-key"}},
    ]
    assert values["extraVolumeMounts"] == [
        {"name": "scratch", "mountPath": "/var/tmp"},
        {"name": "ingest-key", "mountPath": INGEST_TOKEN_FILE.rsplit("/", 1)[0], "readOnly": True},
    ]
    assert values["ingress"] == {
        "enabled": True,
        "className": "nginx",
        # ingress-nginx's 1 MiB default would refuse (413, not retried) an agent's larger batches.
        "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "16m"},
        "hosts": [
            {
                "host": "signoz-ingest.example.com",
                "paths": [{"path": "/v1/traces", "pathType": "Prefix", "port": 4319}],
            }
        ],
        "tls": [{"secretName": "signoz-ingest-tls", "hosts": ["signoz-ingest.example.com"]}],
    }
    assert prod.outputs["ingestEndpoint"] == "https://signoz-ingest.example.com"


def test_ingest_without_tls_outside_production() -> None:
    run = run_test_stack(
        "dev",
        {"signoz": {"ingest": {"host": "ingest.dev.example.com", "ingressClass": "traefik"}}},
        secrets={"signozIngestKey": "a-dev-ingest-key-0123"},
    )
    ingress = collector(run)["ingress"]
    assert (ingress["className"], "tls" in ingress) == ("traefik", False)
    assert "annotations" not in ingress, "an ingress-nginx annotation only for class nginx"


def test_the_ingest_key_is_a_secret_the_collector_mounts(prod: Run) -> None:
    key = fake_secret("mesh-tracing:signozIngestKey")
    secret = prod.named("signoz-ingest-key")
    assert secret.type == "kubernetes:core/v1:Secret"
    assert secret.inputs["metadata"] == {"name": naming.INGEST_KEY_SECRET, "namespace": "signoz"}
    assert secret.inputs["stringData"] == {naming.INGEST_KEY_SECRET_KEY: key}
    assert "stringData" in secret.secret_inputs
    assert "signoz-ingest-key" in prod.named("signoz-release").dependency_names, "mounted at start"
    _assert_only_secret(prod, key)


def test_without_ingest_nothing_is_exposed_and_no_key_is_needed(dev: Run) -> None:
    assert dev.maybe("signoz-ingest-key") is None
    assert dev.outputs["ingestEndpoint"] is None
    assert "ingress" not in collector(dev)


def test_ingest_needs_the_key() -> None:
    with pytest.raises(SettingsError) as caught:
        run_test_stack("prod", remove=("signozIngestKey",))
    assert [str(p) for p in caught.value.problems] == [
        "mesh-tracing:signozIngestKey: got <missing> — required: signoz.ingest checks it on every request "
        "(`pulumi config set --secret --stack prod mesh-tracing:signozIngestKey <key>`)"
    ]
