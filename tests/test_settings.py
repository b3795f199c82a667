"""Settings: the shipped stacks load, and each kind of bad input fails with key, value and rule."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from config.problems import SettingsError
from config.reading import validate_settings
from config.stack import StackSettings
from config.types import KialiAuthStrategy, MtlsMode, PrometheusMode, RemoteAuth, SigNozMode, TraceContext
from meshtools.recording import Run
from tests.conftest import raw_settings, run_test_stack
from tests.support.modes import deployed, remote
from versions.table import CHARTS, ChartId

CONTEXT = "a-kube-context"
# The secret keys the test stacks set (raw_settings leaves secrets out): the ingest key is required
# by signoz.ingest and by remote authentication.
KEY = frozenset({"signozIngestKey"})
# The stack every fix hint of these checks names.
STACK = "qa-eu"
# Why the test stack `prod` gets the production guard rails.
PRODUCTION = "a production stack (environment 'production' has the token 'production')"


def problems(raw: dict[str, Any], kube_context: str | None = CONTEXT) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        validate_settings(raw, kube_context=kube_context, secrets=KEY, stack=STACK)
    return [str(p) for p in caught.value.problems]


def valid(raw: dict[str, Any]) -> StackSettings:
    return validate_settings(raw, kube_context=CONTEXT, secrets=KEY)


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
    assert not s.is_production


def test_prod_stack_settings() -> None:
    s = valid(raw_settings("prod"))
    assert (s.sampling_percent, s.mtls_mode) == (1, MtlsMode.STRICT)
    assert s.is_production
    assert [(n.name, n.adopt, n.sampling_percent) for n in s.traced_namespaces] == [
        ("otel-demo", True, None),
        ("checkout", True, 10),
    ]
    assert s.signoz.protect and deployed(s).collector.autoscaling.min_replicas == 2
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
            "mesh-tracing:istio.chartVersion: got '1.29.0' — not a supported istiod chart version; allowed: "
            + ", ".join(CHARTS[ChartId.ISTIOD].versions),
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
        f"kubernetes:context: got <missing> — required: {PRODUCTION}, so the stack names the cluster it deploys "
        f"to (`pulumi config set --stack {STACK} kubernetes:context <context>`)",
        f"mesh-tracing:mtlsMode: got 'PERMISSIVE' — must be STRICT: {PRODUCTION}",
        f"mesh-tracing:tracedNamespaces[0].mtlsMode: got 'DISABLE' — must be STRICT: {PRODUCTION}",
        f"mesh-tracing:kiali.auth.strategy: got 'anonymous' — must be 'token' or 'openid': {PRODUCTION}",
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
        "mesh-tracing:clickhousePassword: got '<plain text>' — must be a secret: "
        "`pulumi config set --secret --stack dev mesh-tracing:clickhousePassword <value>`"
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


# --------------------------------------------------------------------------- signoz.mode, remote, ingest

REMOTE = {"mode": "remote", "remote": {"endpoint": "https://ingest.example.com"}}


def remote_problems(signoz: dict[str, Any], stack: str = "dev", secrets: frozenset[str] = KEY) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        validate_settings(with_(stack, signoz=signoz), kube_context=CONTEXT, secrets=secrets, stack=STACK)
    return [str(p) for p in caught.value.problems]


def test_remote_test_stack_settings() -> None:
    s = validate_settings(raw_settings("remote"), kube_context=CONTEXT, secrets=KEY)
    found = remote(s).remote
    assert (found.endpoint, found.auth) == ("https://signoz-ingest.example.com", RemoteAuth.BEARER)
    assert (found.queue_spans, found.max_retry_seconds) == (100_000, 1800)
    assert not (found.collect_logs or found.collect_metrics or found.insecure_skip_verify)


def test_deploy_is_the_default_mode() -> None:
    s = validate_settings({"environment": "dev", "cluster": "c1"})
    assert (s.signoz.mode, deployed(s).ingest) == (SigNozMode.DEPLOY, None)


def test_deploy_only_keys_are_named_one_by_one_in_remote_mode() -> None:
    signoz = REMOTE | {
        "clickhouse": {"replicas": 2, "zookeeperReplicas": 3},
        "traceRetentionDays": 30,
        "uiHost": "signoz.example.com",
        "ingest": {"host": "ingest.example.com"},
        "collector": {"replicas": 3, "autoscaling": {"enabled": True}, "resources": {"limits": {"memory": "1Gi"}}},
    }
    why = "deploy mode only: with signoz.mode 'remote' no SigNoz runs in this cluster; remove it"
    assert remote_problems(signoz) == [
        f"mesh-tracing:signoz.collector.replicas: got 3 — {why}",
        f'mesh-tracing:signoz.collector.autoscaling: got {{"enabled": true}} — {why}',
        f'mesh-tracing:signoz.clickhouse: got {{"replicas": 2, "zookeeperReplicas": 3}} — {why}',
        f"mesh-tracing:signoz.traceRetentionDays: got 30 — {why}",
        f"mesh-tracing:signoz.uiHost: got 'signoz.example.com' — {why}",
        f'mesh-tracing:signoz.ingest: got {{"host": "ingest.example.com"}} — {why}',
    ]


def test_collector_sizing_and_processors_apply_to_the_agent() -> None:
    signoz = REMOTE | {
        "namespace": "telemetry",
        "protect": True,
        "collector": {
            "resources": {"limits": {"memory": "1Gi"}},
            "memoryLimiter": {"limitPercent": 70, "spikeLimitPercent": 10},
            "scrubCredentialAttributes": False,
        },
    }
    s = validate_settings(with_("dev", signoz=signoz), secrets=KEY)
    assert (s.signoz.namespace, s.signoz.collector.memory_limiter.limit_percent) == ("telemetry", 70)


def test_remote_needs_its_settings_and_only_remote_mode_takes_them() -> None:
    assert remote_problems({"mode": "remote"}) == [
        "mesh-tracing:signoz.remote: got <missing> — required with mode 'remote': {endpoint, auth, …}"
    ]
    [found] = remote_problems({"remote": {"endpoint": "https://ingest.example.com"}})
    assert found.startswith('mesh-tracing:signoz.remote: got {"endpoint": "https://ingest.example.com"')
    assert found.endswith("— remote mode only: with signoz.mode 'deploy' SigNoz runs in this cluster; remove it")


@pytest.mark.parametrize(
    "endpoint",
    ["http://ingest.example.com", "ingest.example.com:443", "https://ingest.example.com/?token=x", "https://a/{{x}}"],
)
def test_the_endpoint_is_https_only(endpoint: str) -> None:
    [found] = remote_problems({"mode": "remote", "remote": {"endpoint": endpoint}})
    assert found.startswith(f"mesh-tracing:signoz.remote.endpoint: got {endpoint!r} — must be an https:// URL")


def test_remote_keys_have_ranges_and_enums() -> None:
    found = remote_problems(
        {
            "mode": "remote",
            "remote": {"endpoint": "https://x.example.com", "auth": "basic", "queueSpans": 100, "maxRetrySeconds": 0},
        }
    )
    assert [f.split(": got")[0] for f in found] == [
        "mesh-tracing:signoz.remote.auth",
        "mesh-tracing:signoz.remote.queueSpans",
        "mesh-tracing:signoz.remote.maxRetrySeconds",
    ]
    assert "'bearer', 'signozCloud' or 'none'" in found[0]


def test_the_ingest_key_is_required_where_it_is_used() -> None:
    assert remote_problems(REMOTE, secrets=frozenset()) == [
        "mesh-tracing:signozIngestKey: got <missing> — required: signoz.remote.auth is 'bearer' "
        f"(`pulumi config set --secret --stack {STACK} mesh-tracing:signozIngestKey <key>`)"
    ]
    assert remote_problems({"ingest": {"host": "ingest.example.com"}}, secrets=frozenset()) == [
        "mesh-tracing:signozIngestKey: got <missing> — required: signoz.ingest checks it on every request "
        f"(`pulumi config set --secret --stack {STACK} mesh-tracing:signozIngestKey <key>`)"
    ]
    none = {"mode": "remote", "remote": {"endpoint": "https://x.example.com", "auth": "none"}}
    assert remote(validate_settings(with_("dev", signoz=none))).remote.auth.value == "none", "auth none needs no key"


@pytest.mark.parametrize("key", ["short", "has a space in it 0123", "trailing-newline-0123456\n"])
def test_the_ingest_key_is_a_header_value(key: str) -> None:
    with pytest.raises(SettingsError) as caught:
        run_test_stack("dev", {"signoz": REMOTE}, secrets={"signozIngestKey": key})
    assert [str(p) for p in caught.value.problems] == [
        "mesh-tracing:signozIngestKey: got '<secret>' — must be at least 16 characters without spaces or line "
        "breaks (it travels as an HTTP header and is a line of the collector's token file)"
    ]


def test_template_braces_are_refused_in_remote_mode() -> None:
    raw = with_("dev", signoz=REMOTE, resourceAttributes={"team": "{{ .Release.Name }}"})
    with pytest.raises(SettingsError) as caught:
        validate_settings(raw, secrets=KEY)
    assert [str(p) for p in caught.value.problems] == [
        "mesh-tracing:resourceAttributes[\"team\"]: got '{{ .Release.Name }}' — must not contain '{{' in mode 'remote'"
    ]


def test_production_remote_and_ingest_guard_rails_name_their_keys() -> None:
    unsafe = {"mode": "remote", "remote": {"endpoint": "https://x.example.com", "auth": "none"}}
    unsafe["remote"]["insecureSkipVerify"] = True  # type: ignore[index]
    assert remote_problems(unsafe, stack="prod") == [
        f"mesh-tracing:signoz.remote.auth: got 'none' — must be 'bearer' or 'signozCloud': {PRODUCTION}",
        f"mesh-tracing:signoz.remote.insecureSkipVerify: got true — must be false (verify TLS): {PRODUCTION}",
    ]
    central = raw_settings("prod")["signoz"] | {"ingest": {"host": "signoz-ingest.example.com"}}
    assert remote_problems(central, stack="prod") == [
        "mesh-tracing:signoz.ingest.tlsSecretName: got <missing> — required (the ingest key never crosses the "
        f"network in plain text): {PRODUCTION}"
    ]
    insecure_dev = {"mode": "remote", "remote": {"endpoint": "https://x.example.com", "insecureSkipVerify": True}}
    accepted = remote(validate_settings(with_("dev", signoz=insecure_dev), secrets=KEY)).remote
    assert accepted.insecure_skip_verify is True, "outside production it is the user's call"


def test_logs_and_metrics_go_only_where_they_are_ingested() -> None:
    """A central mesh-tracing stack routes /v1/traces only; SigNoz Cloud takes all three."""
    to_central = {"endpoint": "https://x.example.com", "collectMetrics": True}
    assert remote_problems({"mode": "remote", "remote": to_central}) == [
        "mesh-tracing:signoz.remote.collectMetrics: got true — a central mesh-tracing stack ingests traces only; "
        "use auth 'signozCloud' or turn it off"
    ]
    cloud = {"mode": "remote", "remote": to_central | {"auth": "signozCloud"}}
    accepted = remote(validate_settings(with_("dev", signoz=cloud), secrets=KEY)).remote
    assert accepted.collect_metrics is True


# --------------------------------------------------------------------------- security


def test_security_defaults_harden_pods_everywhere_and_leave_policies_to_the_environment() -> None:
    s = valid({"environment": "qa", "cluster": "c1"})
    assert s.security.hardened_pods is True
    assert s.security.network_policies.enabled is None, "unset: the production decision decides"
    assert s.security.network_policies.api_server_cidrs == []
    assert s.security.network_policies.ingress_namespaces == ["ingress-nginx"]


@pytest.mark.parametrize(
    ("cidr", "shown"),
    [("10.0.0.0/28", "10.0.0.0/28"), ("fd00:10::/64", "fd00:10::/64"), ("10.0.0.7/32", "10.0.0.7/32")],
)
def test_api_server_cidrs_take_ipv4_and_ipv6_blocks(cidr: str, shown: str) -> None:
    raw = with_("dev", security={"networkPolicies": {"apiServerCidrs": [cidr]}})
    assert valid(raw).security.network_policies.api_server_cidrs == [shown]


@pytest.mark.parametrize("cidr", ["10.0.0.1/28", "10.0.0.0/33", "control-plane", "10.0.0.0"])
def test_a_malformed_cidr_is_named_by_its_index(cidr: str) -> None:
    raw = with_("dev", security={"networkPolicies": {"apiServerCidrs": ["10.0.0.0/28", cidr]}})
    if cidr == "10.0.0.0":  # a bare address is a /32 block: allowed
        assert valid(raw).security.network_policies.api_server_cidrs == ["10.0.0.0/28", "10.0.0.0/32"]
        return
    assert problems(raw) == [
        f"mesh-tracing:security.networkPolicies.apiServerCidrs[1]: got '{cidr}' — must be a CIDR block such as "
        "172.18.0.0/16 or 10.0.0.10/32, with no address bits set past the prefix"
    ]


def test_security_keys_are_checked() -> None:
    raw = with_("dev", security={"hardenedPods": "yes", "networkPolicies": {"ingressNamespaces": ["Ingress"]}})
    assert problems(raw) == [
        "mesh-tracing:security.networkPolicies.ingressNamespaces[0]: got 'Ingress' — must be a DNS-1123 label: "
        "lower-case letters, digits and '-', starting and ending alphanumeric",
        "mesh-tracing:security.hardenedPods: got 'yes' — Input should be a valid boolean",
    ]


def test_signoz_sizing_keys_are_deploy_mode_only() -> None:
    why = "deploy mode only: with signoz.mode 'remote' no SigNoz runs in this cluster; remove it"
    sized = REMOTE | {"resources": {"limits": {"memory": "2Gi"}}, "migratorResources": {"limits": {"memory": "1Gi"}}}
    assert remote_problems(sized) == [
        f'mesh-tracing:signoz.resources: got {{"limits": {{"memory": "2Gi"}}}} — {why}',
        f'mesh-tracing:signoz.migratorResources: got {{"limits": {{"memory": "1Gi"}}}} — {why}',
    ]


def test_production_refuses_extra_values_that_switch_a_guard_rail_off() -> None:
    """extraValues reach what the settings leave to the charts; in production the guard rails judge
    them when the stack is read, with the full key (the policy pack judges the merged values)."""
    istio = raw_settings("prod")["istio"]
    istiod = {"extraValues": {"meshConfig": {"enableTracing": False, "enableAutoMtls": False}}}
    kiali = raw_settings("prod")["kiali"] | {
        "extraValues": {"external_services": {"prometheus": {"auth": {"insecure_skip_verify": True}}}}
    }
    raw = with_("prod", istio=istio | {"istiod": istio.get("istiod", {}) | istiod}, kiali=kiali)
    assert problems(raw) == [
        "mesh-tracing:istio.istiod.extraValues.meshConfig.enableTracing: got false — must not be false: the mesh "
        f"would report no spans: {PRODUCTION}",
        "mesh-tracing:istio.istiod.extraValues.meshConfig.enableAutoMtls: got false — must not be false: callers "
        f"would stop sending mTLS: {PRODUCTION}",
        "mesh-tracing:kiali.extraValues.external_services.prometheus.auth.insecure_skip_verify: got true — must not "
        f"be true: the server's certificate would go unverified: {PRODUCTION}",
    ]
    dev = raw_settings("dev")
    dev_istio = dev["istio"] | {"istiod": dev["istio"].get("istiod", {}) | istiod}
    assert valid(with_("dev", istio=dev_istio)).istio.istiod.extra_values == istiod["extraValues"], (
        "outside production a stack may switch tracing off in istiod's values"
    )
    enabled = {"extraValues": {"meshConfig": {"enableTracing": True}}}
    prod_istio = istio | {"istiod": istio.get("istiod", {}) | enabled}
    assert valid(with_("prod", istio=prod_istio)).istio.istiod.extra_values == enabled["extraValues"]
