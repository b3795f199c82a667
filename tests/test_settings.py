"""Settings: the shipped stacks load, and each kind of bad input fails with key, value and rule."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.models import (
    KialiAuthStrategy,
    MtlsMode,
    PrometheusMode,
    StackSettings,
    TraceContext,
    is_production,
)
from components.problems import SettingsError
from components.settings import validate_settings
from meshtools.recording import Run
from tests.conftest import raw_settings, run_test_stack

CONTEXT = "a-kube-context"


def problems(raw: dict[str, Any], kube_context: str | None = CONTEXT) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        validate_settings(raw, kube_context=kube_context)
    return [str(p) for p in caught.value.problems]


def valid(raw: dict[str, Any]) -> StackSettings:
    return validate_settings(raw, kube_context=CONTEXT)


def with_(stack: str, **changes: Any) -> dict[str, Any]:
    return raw_settings(stack) | changes


def test_dev_stack_settings() -> None:
    s = valid(raw_settings("dev"))
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
    s = valid(raw_settings("prod"))
    assert (s.sampling_percent, s.mtls_mode) == (1, MtlsMode.STRICT)
    assert is_production(s.environment)
    assert [(n.name, n.adopt, n.sampling_percent) for n in s.traced_namespaces] == [
        ("otel-demo", True, None),
        ("checkout", True, 10),
    ]
    assert s.signoz.protect and s.signoz.collector.autoscaling.min_replicas == 2
    assert s.istio.trace_context is TraceContext.B3_AND_W3C


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
    assert found.startswith(
        "mesh-tracing:samplingPercentage: got 5 — unknown key; did you mean samplingPercent? allowed: environment,"
    )


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
            "mesh-tracing:tracedNamespaces[0].name: got 'kube-system' — Kubernetes' own namespaces",
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
        (["app", "kube-flannel"], "mesh-tracing:tracedNamespaces[1].name: got 'kube-flannel' — Kubernetes' own"),
        (["default"], "mesh-tracing:tracedNamespaces[0].name: got 'default' — Kubernetes' own namespaces"),
    ],
)
def test_traced_namespace_rules(names: list[str], expected: str) -> None:
    found = problems(with_("dev", tracedNamespaces=names))
    assert any(f.startswith(expected) for f in found), found


def test_credential_header_tags_are_rejected_per_namespace_too() -> None:
    raw = with_("dev", tracedNamespaces=[{"name": "a", "customTags": {"t": {"header": {"name": "Cookie"}}}}])
    [found] = problems(raw)
    assert found.startswith("mesh-tracing:tracedNamespaces[0].customTags[\"t\"].header.name: got 'Cookie'")


def test_reserved_resource_attributes_are_rejected() -> None:
    [found] = problems(with_("dev", resourceAttributes={"deployment.environment": "qa"}))
    assert found == (
        "mesh-tracing:resourceAttributes[\"deployment.environment\"]: got 'qa' — reserved: set from "
        "mesh-tracing:environment; remove it here"
    )


def test_malformed_urls_are_rejected() -> None:
    found = problems(
        with_("dev", kiali={"signozUrl": "signoz.local", "prometheus": {"mode": "external", "url": "ftp://x"}})
    )
    assert [f.split(": got")[0] for f in found] == [
        "mesh-tracing:kiali.prometheus.url",
        "mesh-tracing:kiali.signozUrl",
    ]
    assert all("must be an absolute http:// or https:// URL" in f for f in found)


def test_defaults_need_only_environment_and_cluster() -> None:
    s = validate_settings({"environment": "dev", "cluster": "c1"})
    assert s == StackSettings(environment="dev", cluster="c1")
    assert (s.sampling_percent, s.mtls_mode, s.istio.namespace, s.signoz.namespace) == (
        1.0,
        MtlsMode.PERMISSIVE,
        "istio-system",
        "signoz",
    )


@pytest.mark.parametrize(
    "header", ["authorization", "Proxy-Authorization", "cookie", "set-cookie", "x-api-key", "x-session-id"]
)
def test_credential_header_tags_are_rejected(header: str) -> None:
    tags = {"who": {"header": {"name": header, "defaultValue": "[REDACTED]"}}}
    assert problems(with_("dev", istio={"customTags": tags})) == [
        f'mesh-tracing:istio.customTags["who"].header.name: got {header!r} — this header carries credentials: '
        "a header tag copies its real value into every sampled span (defaultValue is only used when the header "
        "is missing). Remove the tag; the collector also deletes credential attributes"
    ]


# Rules that relate two fields name the one at fault and show only the values involved.
@pytest.mark.parametrize(
    ("section", "value", "expected"),
    [
        (
            "istio",
            {"istiod": {"autoscaleMin": 5, "autoscaleMax": 2}},
            "mesh-tracing:istio.istiod.autoscaleMin: got 5 — must not exceed autoscaleMax (2)",
        ),
        (
            "istio",
            {"customTags": {"t": {"literal": {"value": "x"}, "environment": {"name": "E"}}}},
            'mesh-tracing:istio.customTags["t"]: got ["literal", "environment"] — needs exactly one of literal, '
            "environment, header",
        ),
        (
            "istio",
            {"customTags": {"cluster": {"literal": {"value": "x"}}}},
            "mesh-tracing:istio.customTags[\"cluster\"]: got 'cluster' — reserved: set from "
            "mesh-tracing:environment/cluster",
        ),
        (
            "istio",
            {"gateway": {"enabled": True, "namespace": "istio-system"}},
            "mesh-tracing:istio.gateway.namespace: got 'istio-system' — must differ from istio.namespace "
            "(the control plane)",
        ),
        (
            "istio",
            {"chartVersion": "1.29.0"},
            "mesh-tracing:istio.chartVersion: got '1.29.0' — not a supported istiod chart version; allowed: 1.30.5",
        ),
        (
            "signoz",
            {
                "collector": {
                    "autoscaling": {"minReplicas": 9, "maxReplicas": 3},
                    "resources": {"limits": {"memory": "1Gi"}},
                }
            },
            "mesh-tracing:signoz.collector.autoscaling.minReplicas: got 9 — must not exceed maxReplicas (3)",
        ),
        (
            "signoz",
            {"collector": {"memoryLimiter": {"limitPercent": 40, "spikeLimitPercent": 45}}},
            "mesh-tracing:signoz.collector.memoryLimiter.spikeLimitPercent: got 45 — must be below limitPercent (40)",
        ),
        (
            "signoz",
            {"collector": {"resources": {"requests": {"cpu": "1"}}}},
            "mesh-tracing:signoz.collector.resources.limits.memory: got <missing> — required: memory_limiter sizes "
            "itself from it",
        ),
        (
            "signoz",
            {"clickhouse": {"replicas": 2}},
            "mesh-tracing:signoz.clickhouse.zookeeperReplicas: got 1 — must be 3 or 5 for a real quorum when "
            "replicas is 2",
        ),
        (
            "kiali",
            {"prometheus": {"mode": "external"}},
            "mesh-tracing:kiali.prometheus.url: got <missing> — required with mode 'external': the Prometheus "
            "HTTP API Kiali queries",
        ),
    ],
)
def test_cross_field_problems_name_the_exact_key(section: str, value: dict[str, Any], expected: str) -> None:
    assert problems(with_("dev", **{section: value})) == [expected]


def test_production_guard_rails_name_their_keys() -> None:
    raw = with_(
        "prod",
        mtlsMode="PERMISSIVE",
        tracedNamespaces=[{"name": "legacy", "mtlsMode": "DISABLE"}],
        kiali={"auth": {"strategy": "anonymous"}},
    )
    assert problems(raw, kube_context=None) == [
        "kubernetes:context: got <missing> — required: 'production' is a production environment, so the stack "
        "names the cluster it deploys to (`pulumi config set kubernetes:context <context>`)",
        "mesh-tracing:mtlsMode: got 'PERMISSIVE' — must be STRICT: 'production' is a production environment",
        "mesh-tracing:tracedNamespaces[0].mtlsMode: got 'DISABLE' — must be STRICT: 'production' is a production "
        "environment",
        "mesh-tracing:kiali.auth.strategy: got 'anonymous' — must be 'token' or 'openid': 'production' is a "
        "production environment",
    ]
    assert valid(with_("dev", kiali={"auth": {"strategy": "anonymous"}})).kiali.auth.strategy is (
        KialiAuthStrategy.ANONYMOUS
    ), "outside production anonymous Kiali is allowed"


def test_bad_config_registers_no_resource_and_is_a_run_error() -> None:
    """A RunError is what `pulumi up` prints as a message, without a Python traceback."""
    run = Run()
    with pytest.raises(SettingsError) as caught:
        run_test_stack("prod", {"samplingPercent": 400, "mtlsMode": "NOPE"}, into=run)
    assert isinstance(caught.value, pulumi.RunError)
    assert [p.key for p in caught.value.problems] == ["mesh-tracing:samplingPercent", "mesh-tracing:mtlsMode"]
    assert run.resources == []


def test_misspelt_namespace_is_named_as_an_unknown_key() -> None:
    with pytest.raises(SettingsError) as caught:
        run_test_stack("dev", {"meshtracing:environment": "dev", "mesh_tracing:team": "x", "kubernetes:namespace": "a"})
    assert [str(p) for p in caught.value.problems] == [
        "mesh_tracing:team: got 'x' — unknown config namespace 'mesh_tracing'; did you mean mesh-tracing:team?",
        "meshtracing:environment: got 'dev' — unknown config namespace 'meshtracing'; did you mean "
        "mesh-tracing:environment?",
    ]


def test_secrets_must_be_set_as_secrets() -> None:
    with pytest.raises(SettingsError) as caught:
        run_test_stack("dev", {"clickhousePassword": "plain"})
    assert [str(p) for p in caught.value.problems] == [
        "mesh-tracing:clickhousePassword: got '<plain text>' — must be set with `pulumi config set --secret`"
    ]


def test_secret_keys_announced_by_the_cli_environment_count_as_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real `pulumi up` lists secret keys in PULUMI_CONFIG_SECRET_KEYS rather than set_all_config."""
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", '["mesh-tracing:clickhousePassword"]')
    run = run_test_stack("dev", {"clickhousePassword": "from-the-cli-xyz"})
    assert run.named("signoz-release").inputs["values"]["clickhouse"]["password"] == "from-the-cli-xyz"
    assert "values" in run.named("signoz-release").secret_inputs


def test_config_from_the_cli_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under the CLI the config arrives in PULUMI_CONFIG, not through set_all_config."""
    monkeypatch.setenv("PULUMI_CONFIG", '{"mesh-tracing:traceMe": "1"}')
    with pytest.raises(SettingsError) as caught:
        run_test_stack("dev")
    assert [p.key for p in caught.value.problems] == ["mesh-tracing:traceMe"]


def test_numbers_set_as_text_are_numbers() -> None:
    """`pulumi config set mesh-tracing:samplingPercent 5` stores the string "5"; it means 5 %."""
    run = run_test_stack("dev", {"samplingPercent": "5"})
    assert run.named("mesh-telemetry").inputs["spec"]["tracing"][0]["randomSamplingPercentage"] == 5
