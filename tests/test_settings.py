"""Settings: the shipped stacks load, and each kind of bad input fails with key, value and rule."""

from __future__ import annotations

from typing import Any

import pytest

from components.settings import (
    KialiAuthStrategy,
    MtlsMode,
    PrometheusMode,
    SettingsError,
    StackSettings,
    TraceContext,
    is_production,
    validate_settings,
)
from meshtools.recording import Run, run_stack
from tests.conftest import raw_settings


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        validate_settings(raw)
    return [str(p) for p in caught.value.problems]


def with_(stack: str, **changes: Any) -> dict[str, Any]:
    return raw_settings(stack) | changes


def test_dev_stack_settings() -> None:
    s = validate_settings(raw_settings("dev"))
    assert (s.environment, s.cluster, s.sampling_percent, s.mtls_mode) == (
        "dev",
        "dev-kind",
        100,
        MtlsMode.PERMISSIVE,
    )
    assert [n.name for n in s.traced_namespaces] == ["otel-demo"]
    assert s.kiali.auth.strategy is KialiAuthStrategy.ANONYMOUS
    assert s.kiali.prometheus.mode is PrometheusMode.DEPLOY
    assert not is_production(s.environment)


def test_prod_stack_settings() -> None:
    s = validate_settings(raw_settings("prod"))
    assert (s.sampling_percent, s.mtls_mode) == (1, MtlsMode.STRICT)
    assert is_production(s.environment)
    assert [(n.name, n.adopt, n.sampling_percent) for n in s.traced_namespaces] == [
        ("otel-demo", True, None),
        ("checkout", True, 10),
    ]
    assert s.signoz.protect and s.signoz.collector.autoscaling.min_replicas == 2
    assert s.istio.trace_context is TraceContext.B3_AND_W3C


def test_defaults_need_only_environment_and_cluster() -> None:
    s = validate_settings({"environment": "dev", "cluster": "c1"})
    assert s == StackSettings(environment="dev", cluster="c1")
    assert (s.sampling_percent, s.mtls_mode, s.istio.namespace, s.signoz.namespace) == (
        1.0,
        MtlsMode.PERMISSIVE,
        "istio-system",
        "signoz",
    )


def test_missing_required_keys_are_named() -> None:
    found = problems({})
    assert found == [
        "mesh-tracing:environment: got <missing> — required (the environment's name, e.g. dev or production)",
        "mesh-tracing:cluster: got <missing> — required (the cluster's name, e.g. prod-eu-west-1)",
    ]


def test_sampling_out_of_range_names_key_value_and_range() -> None:
    [found] = problems(with_("dev", samplingPercent=150))
    assert found.startswith("mesh-tracing:samplingPercent: got 150 — ")
    assert "less than or equal to 100" in found


def test_sampling_must_be_a_number_not_text() -> None:
    [found] = problems(with_("dev", samplingPercent="lots"))
    assert found.startswith("mesh-tracing:samplingPercent: got 'lots'")


def test_mtls_mode_lists_allowed_values() -> None:
    [found] = problems(with_("dev", mtlsMode="strict"))
    assert found.startswith("mesh-tracing:mtlsMode: got 'strict'")
    assert "'STRICT', 'PERMISSIVE' or 'DISABLE'" in found


def test_unknown_top_level_key_is_an_error() -> None:
    [found] = problems(with_("dev", samplingPercentage=5))
    assert found.startswith("mesh-tracing:samplingPercentage: got 5 — unknown key; allowed: environment, cluster")


def test_unknown_nested_key_lists_the_keys_allowed_there() -> None:
    [found] = problems(with_("dev", istio={"gatway": {"enabled": True}}))
    assert found.startswith("mesh-tracing:istio.gatway: got ")
    assert "allowed keys here: chartVersion, namespace, revision" in found


def test_every_problem_is_reported_at_once() -> None:
    raw = with_(
        "prod",
        samplingPercent=-1,
        mtlsMode="OFF",
        resourceAttributes={"": "x", "ok.key": ""},
        signoz={"namespace": "Bad_Name"},
    )
    found = problems(raw)
    keys = [f.split(": got", 1)[0] for f in found]
    assert keys == [
        "mesh-tracing:samplingPercent",
        "mesh-tracing:mtlsMode",
        'mesh-tracing:resourceAttributes[""]',
        'mesh-tracing:resourceAttributes["ok.key"]',
        "mesh-tracing:signoz.namespace",
    ]


def test_namespace_override_errors_carry_the_index() -> None:
    raw = with_("dev", tracedNamespaces=["a", "b", {"name": "c", "samplingPercent": 101}])
    [found] = problems(raw)
    assert found.startswith("mesh-tracing:tracedNamespaces[2].samplingPercent: got 101")


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (
            ["kube-system"],
            "mesh-tracing:tracedNamespaces[0].name: got 'kube-system' — a Kubernetes system namespace",
        ),
        (
            ["istio-system"],
            "mesh-tracing:tracedNamespaces[0].name: got 'istio-system' — is the Istio control-plane",
        ),
        (["app", "signoz"], "mesh-tracing:tracedNamespaces[1].name: got 'signoz' — is the SigNoz namespace"),
        (
            ["app", "app"],
            "mesh-tracing:tracedNamespaces[1].name: got 'app' — duplicate of tracedNamespaces[0]",
        ),
        (["Not_DNS"], "mesh-tracing:tracedNamespaces[0].name: got 'Not_DNS' — must be a DNS-1123 label"),
    ],
)
def test_traced_namespace_rules(names: list[str], expected: str) -> None:
    found = problems(with_("dev", tracedNamespaces=names))
    assert any(f.startswith(expected) for f in found), found


@pytest.mark.parametrize(
    "header", ["authorization", "Proxy-Authorization", "cookie", "set-cookie", "x-api-key", "x-session-id"]
)
def test_credential_header_tags_are_rejected(header: str) -> None:
    tags = {"who": {"header": {"name": header, "defaultValue": "[REDACTED]"}}}
    found = problems(with_("dev", istio={"customTags": tags}))
    assert found == [
        f'mesh-tracing:istio.customTags["who"].header: got {{"name": "{header}", "defaultValue": "[REDACTED]"}}'
        f" — header {header!r} carries credentials: a header tag copies its real value into every sampled span "
        "(defaultValue is only used when the header is missing). Remove the tag; the collector also deletes "
        "credential attributes"
    ]


def test_credential_header_tags_are_rejected_per_namespace_too() -> None:
    raw = with_("dev", tracedNamespaces=[{"name": "a", "customTags": {"t": {"header": {"name": "Cookie"}}}}])
    [found] = problems(raw)
    assert found.startswith('mesh-tracing:tracedNamespaces[0].customTags["t"].header: got')


def test_a_tag_needs_exactly_one_source() -> None:
    [found] = problems(
        with_("dev", istio={"customTags": {"t": {"literal": {"value": "x"}, "environment": {"name": "E"}}}})
    )
    assert "needs exactly one of literal, environment, header (got ['literal', 'environment'])" in found


def test_reserved_tag_names_are_rejected() -> None:
    [found] = problems(with_("dev", istio={"customTags": {"cluster": {"literal": {"value": "x"}}}}))
    assert "customTags ['cluster'] are set from mesh-tracing:environment/cluster" in found


def test_reserved_resource_attributes_are_rejected() -> None:
    [found] = problems(with_("dev", resourceAttributes={"deployment.environment": "qa"}))
    assert found == (
        "mesh-tracing:resourceAttributes[\"deployment.environment\"]: got 'qa' — set from "
        "mesh-tracing:environment; remove it here"
    )


def test_anonymous_kiali_in_production_needs_the_explicit_flag() -> None:
    kiali = {"auth": {"strategy": "anonymous"}}
    [found] = problems(with_("prod", kiali=kiali))
    assert found.startswith("mesh-tracing:kiali.auth.strategy: got 'anonymous' — anonymous Kiali in environment")
    allowed = validate_settings(
        with_("prod", kiali={"auth": {"strategy": "anonymous", "allowAnonymousInProduction": True}})
    )
    assert allowed.kiali.auth.strategy is KialiAuthStrategy.ANONYMOUS


def test_malformed_urls_are_rejected() -> None:
    found = problems(
        with_("dev", kiali={"signozUrl": "signoz.local", "prometheus": {"mode": "external", "url": "ftp://x"}})
    )
    assert [f.split(": got")[0] for f in found] == [
        "mesh-tracing:kiali.prometheus.url",
        "mesh-tracing:kiali.signozUrl",
    ]
    assert all("must be an absolute http:// or https:// URL" in f for f in found)


def test_external_prometheus_needs_a_url() -> None:
    [found] = problems(with_("dev", kiali={"prometheus": {"mode": "external"}}))
    assert "mode 'external' needs prometheus.url" in found


def test_unsupported_chart_version_lists_supported_ones() -> None:
    [found] = problems(with_("dev", istio={"chartVersion": "1.29.0"}))
    assert found.startswith("mesh-tracing:istio: got ")
    assert "chart version '1.29.0' has no conformance facts; allowed: 1.30.5" in found


def test_collector_needs_a_memory_limit_for_memory_limiter() -> None:
    collector = {"resources": {"requests": {"cpu": "1"}}}
    [found] = problems(with_("dev", signoz={"collector": collector}))
    assert "resources.limits.memory is required" in found


def test_bad_config_registers_no_resource() -> None:
    run = Run()
    with pytest.raises(SettingsError) as caught:
        run_stack("prod", {"samplingPercent": 400, "mtlsMode": "NOPE"}, into=run)
    assert [p.key for p in caught.value.problems] == ["mesh-tracing:samplingPercent", "mesh-tracing:mtlsMode"]
    assert run.resources == []


def test_secrets_must_be_set_as_secrets() -> None:
    with pytest.raises(SettingsError) as caught:
        run_stack("dev", {"clickhousePassword": "plain"})
    assert [str(p) for p in caught.value.problems] == [
        "mesh-tracing:clickhousePassword: got '<plain text>' — must be set with `pulumi config set --secret`"
    ]


def test_secret_keys_announced_by_the_cli_environment_count_as_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real `pulumi up` lists secret keys in PULUMI_CONFIG_SECRET_KEYS rather than set_all_config."""
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", '["mesh-tracing:clickhousePassword"]')
    run = run_stack("dev", {"clickhousePassword": "from-the-cli-xyz"})
    assert run.named("signoz-release").inputs["values"]["clickhouse"]["password"] == "from-the-cli-xyz"
    assert "values" in run.named("signoz-release").secret_inputs


def test_numbers_set_as_text_are_numbers() -> None:
    """`pulumi config set mesh-tracing:samplingPercent 5` stores the string "5"; it means 5 %."""
    run = run_stack("dev", {"samplingPercent": "5"})
    assert run.named("mesh-telemetry").inputs["spec"]["tracing"][0]["randomSamplingPercentage"] == 5
