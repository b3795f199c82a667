"""The policy pack, run on the recorded resources of the test stacks: a pass and a violation each."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from pulumi_policy import EnforcementLevel

from kube.naming import PRODUCTION_LABEL
from meshtools.recording import Run
from meshtools.stacks import PROJECT_DIR
from policy.mesh_policies import RULES, Rule, policies
from tests.conftest import TEST_STACK_NAMES, raw_settings, run_test_stack, stack_run
from tests.support.policy import violations

RULE = {rule.name: rule for rule in RULES}


def edited(run: Run, name: str, edit: Callable[[dict[str, Any]], None]) -> Run:
    """A copy of `run` with one resource's inputs changed as code (not config) could change them."""
    copied = copy.deepcopy(run)
    edit(next(r for r in copied.resources if r.name == name).inputs)
    return copied


def test_the_pack_has_every_rule_with_its_level() -> None:
    assert {r.name: r.level for r in RULES} == {
        "production-strict-mtls": EnforcementLevel.MANDATORY,
        "production-kiali-authenticated": EnforcementLevel.MANDATORY,
        "no-credential-span-tags": EnforcementLevel.MANDATORY,
        "helm-chart-version-pinned": EnforcementLevel.MANDATORY,
        "collector-memory-limiter-first": EnforcementLevel.MANDATORY,
        "production-tracing-enabled": EnforcementLevel.MANDATORY,
        "production-tls-verified": EnforcementLevel.MANDATORY,
        "production-remote-tls-and-auth": EnforcementLevel.MANDATORY,
        "production-ingest-tls": EnforcementLevel.MANDATORY,
        "production-sampling-at-most-10-percent": EnforcementLevel.ADVISORY,
        "collector-resource-limits": EnforcementLevel.ADVISORY,
    }
    assert len(policies()) == len(RULES)


def test_the_pack_description_lists_exactly_its_rules() -> None:
    description = yaml.safe_load((PROJECT_DIR / "policy" / "PulumiPolicy.yaml").read_text())["description"]
    named = {word.strip(",.;():") for word in description.split()}
    assert {rule.name for rule in RULES} <= named
    assert {w for w in named if w.count("-") >= 2} == {rule.name for rule in RULES}


@pytest.mark.parametrize("stack_name", TEST_STACK_NAMES)
def test_test_stacks_pass_every_mandatory_rule(stack_name: str) -> None:
    run = stack_run(stack_name)
    for rule in RULES:
        if rule.level is EnforcementLevel.MANDATORY:
            assert violations(rule, run) == [], rule.name


def test_strict_mtls_in_production() -> None:
    def permissive(inputs: dict[str, Any]) -> None:
        inputs["spec"]["mtls"]["mode"] = "PERMISSIVE"

    run = edited(stack_run("prod"), "mesh-peer-authentication", permissive)
    assert violations(RULE["production-strict-mtls"], run) == [
        "PeerAuthentication istio-system/default has mTLS mode PERMISSIVE in production environment 'production'; "
        "set mesh-tracing:mtlsMode (and any tracedNamespaces[].mtlsMode) to STRICT."
    ]
    assert violations(RULE["production-strict-mtls"], stack_run("dev")) == [], "dev may be PERMISSIVE"


@pytest.mark.parametrize("rule", [r for r in RULES if r.stack_check is not None], ids=lambda r: r.name)
def test_stack_rules_run_in_a_preview(rule: Rule) -> None:
    """In `pulumi preview` what providers compute (an object's status) is unknown, and the policy
    SDK raises on reading it: the stack rules skip those values instead of failing to run (the real
    analyzer reported every stack rule as "can't run during preview", `make e2e`)."""
    assert violations(rule, stack_run("prod"), preview=True) == violations(rule, stack_run("prod"))
    assert violations(rule, stack_run("remote"), preview=True) == violations(rule, stack_run("remote"))


def test_a_preview_still_finds_a_production_violation() -> None:
    def permissive(inputs: dict[str, Any]) -> None:
        inputs["spec"]["mtls"]["mode"] = "PERMISSIVE"

    run = edited(stack_run("prod"), "mesh-peer-authentication", permissive)
    assert len(violations(RULE["production-strict-mtls"], run, preview=True)) == 1


def test_kiali_authenticated_in_production() -> None:
    def anonymous(inputs: dict[str, Any]) -> None:
        inputs["values"]["auth"] = {"strategy": "anonymous"}

    run = edited(stack_run("prod"), "kiali-release", anonymous)
    assert violations(RULE["production-kiali-authenticated"], run) == [
        "Kiali release kiali uses anonymous access in production environment 'production'; "
        "set mesh-tracing:kiali.auth.strategy to token or openid."
    ]
    assert violations(RULE["production-kiali-authenticated"], stack_run("dev")) == [], "dev may be anonymous"


def test_no_credential_span_tags() -> None:
    def add_auth_tag(inputs: dict[str, Any]) -> None:
        tags = inputs["spec"]["tracing"][0]["customTags"]
        tags["auth"] = {"header": {"name": "Authorization", "defaultValue": "[REDACTED]"}}

    run = edited(stack_run("prod"), "ns-checkout-telemetry", add_auth_tag)
    assert violations(RULE["no-credential-span-tags"], run) == [
        "Telemetry checkout/mesh-tracing tag 'auth' copies request header 'Authorization' (a credential) into "
        "every sampled span; remove the tag from customTags."
    ]
    assert violations(RULE["no-credential-span-tags"], stack_run("prod")) == [], "x-tenant-id is fine"


def test_chart_versions_pinned() -> None:
    def float_version(inputs: dict[str, Any]) -> None:
        inputs["version"] = "^1.30"

    run = edited(stack_run("dev"), "mesh-istiod", float_version)
    assert violations(RULE["helm-chart-version-pinned"], run) == [
        "Helm release istiod (chart istiod) has version '^1.30', not an exact version; pin it in versions/table.py."
    ]


def test_memory_limiter_first() -> None:
    def reorder(inputs: dict[str, Any]) -> None:
        processors = inputs["values"]["otelCollector"]["config"]["service"]["pipelines"]["traces"]["processors"]
        processors.append(processors.pop(0))

    run = edited(stack_run("prod"), "signoz-release", reorder)
    assert violations(RULE["collector-memory-limiter-first"], run) == [
        "The collector's traces pipeline starts with 'resource/mesh-tracing', not memory_limiter, so overload kills "
        "the pod instead of shedding load; put memory_limiter first (kube/collector_config.py)."
    ]


def test_memory_limiter_first_in_the_agent_too() -> None:
    def reorder(inputs: dict[str, Any]) -> None:
        processors = inputs["values"]["otelAgent"]["config"]["service"]["pipelines"]["traces"]["processors"]
        processors.append(processors.pop(0))

    assert violations(RULE["collector-memory-limiter-first"], stack_run("remote")) == []
    run = edited(stack_run("remote"), "signoz-agent-release", reorder)
    assert violations(RULE["collector-memory-limiter-first"], run) == [
        "The agent's traces pipeline starts with 'resource/mesh-tracing', not memory_limiter, so overload kills "
        "the pod instead of shedding load; put memory_limiter first (kube/collector_config.py)."
    ]


def _agent_exporter(inputs: dict[str, Any]) -> dict[str, Any]:
    exporter: dict[str, Any] = inputs["values"]["otelAgent"]["config"]["exporters"]["otlphttp/signoz-remote"]
    return exporter


def test_production_remote_tls_and_auth() -> None:
    rule = RULE["production-remote-tls-and-auth"]
    assert violations(rule, stack_run("remote")) == []

    def weakened(inputs: dict[str, Any]) -> None:
        exporter = _agent_exporter(inputs)
        exporter["endpoint"] = "http://signoz-ingest.example.com"
        exporter["tls"] = {"insecure_skip_verify": True}
        del exporter["headers"]

    where = "The agent's exporter otlphttp/signoz-remote (release k8s-infra)"
    env = "in production environment 'production'"
    assert violations(rule, edited(stack_run("remote"), "signoz-agent-release", weakened)) == [
        f"{where} sends to 'http://signoz-ingest.example.com', not https:// {env}; "
        "set mesh-tracing:signoz.remote.endpoint.",
        f"{where} does not verify TLS {env}; set mesh-tracing:signoz.remote.insecureSkipVerify false.",
        f"{where} sends no ingest key {env}; set mesh-tracing:signoz.remote.auth to bearer or signozCloud.",
    ]


def test_remote_outside_production_may_skip_verification_and_auth() -> None:
    run = run_test_stack(
        "dev",
        {
            "signoz": {
                "mode": "remote",
                "remote": {"endpoint": "https://x.example.com", "auth": "none", "insecureSkipVerify": True},
                "collector": {"resources": {"limits": {"memory": "256Mi"}}},
            }
        },
    )
    assert violations(RULE["production-remote-tls-and-auth"], run) == []


def test_production_ingest_tls() -> None:
    rule = RULE["production-ingest-tls"]
    assert violations(rule, stack_run("prod")) == []

    def plain_http(inputs: dict[str, Any]) -> None:
        del inputs["values"]["otelCollector"]["ingress"]["tls"]

    assert violations(rule, edited(stack_run("prod"), "signoz-release", plain_http)) == [
        "The SigNoz collector's Ingress exposes signoz-ingest.example.com without TLS in production environment "
        "'production'; set mesh-tracing:signoz.ingest.tlsSecretName."
    ]
    dev_ingest = run_test_stack(
        "dev", {"signoz": {"ingest": {"host": "ingest.dev.example.com"}}}, secrets={"signozIngestKey": "k" * 16}
    )
    assert violations(rule, dev_ingest) == [], "dev may expose ingest without TLS"


def test_production_keeps_tracing_enabled() -> None:
    rule = RULE["production-tracing-enabled"]
    assert violations(rule, stack_run("prod")) == []

    def tracing_off(inputs: dict[str, Any]) -> None:
        inputs["values"]["meshConfig"]["enableTracing"] = False

    assert violations(rule, edited(stack_run("prod"), "mesh-istiod", tracing_off)) == [
        "Helm release istiod sets meshConfig.enableTracing false in production environment 'production'; remove "
        "meshConfig.enableTracing from mesh-tracing:istio.istiod.extraValues."
    ]
    assert violations(rule, edited(stack_run("dev"), "mesh-istiod", tracing_off)) == [], "outside production"


def _as_production(run: Run) -> Run:
    """A copy of a run as a production stack would be labelled: what the pack sees if a stack's
    extraValues got past the reader (an older program, a hand edit)."""

    def label(inputs: dict[str, Any]) -> None:
        inputs["metadata"]["labels"][PRODUCTION_LABEL] = "true"

    return edited(run, "mesh-telemetry", label)


def test_production_rails_judge_what_extra_values_merged_into_a_release() -> None:
    istio = raw_settings("dev")["istio"]
    off = {"meshConfig": {"enableTracing": False, "enableAutoMtls": False}}
    skip = {"external_services": {"prometheus": {"auth": {"insecure_skip_verify": True}}}}
    run = run_test_stack(
        "dev",
        {
            "istio": istio | {"istiod": istio.get("istiod", {}) | {"extraValues": off}},
            "kiali": raw_settings("dev")["kiali"] | {"extraValues": skip},
        },
    )
    assert [violations(RULE[name], run) for name in ("production-tracing-enabled", "production-tls-verified")] == [
        [],
        [],
    ], "outside production the pack lets them be"
    env = "in production environment 'dev'"
    assert violations(RULE["production-tracing-enabled"], _as_production(run)) == [
        f"Helm release istiod sets meshConfig.enableTracing false {env}; remove meshConfig.enableTracing from "
        "mesh-tracing:istio.istiod.extraValues."
    ]
    assert violations(RULE["production-tls-verified"], _as_production(run)) == [
        f"Helm release kiali sets external_services.prometheus.auth.insecure_skip_verify true {env}; remove it from "
        "the release's extraValues."
    ]
    assert f"Helm release istiod sets meshConfig.enableAutoMtls false {env}" in " ".join(
        violations(RULE["production-strict-mtls"], _as_production(run))
    )


def test_a_release_from_an_oci_registry_is_judged_by_its_chart_name() -> None:
    def from_oci_with_tracing_off(inputs: dict[str, Any]) -> None:
        inputs["chart"] = "oci://registry.example.com/istio/istiod"
        inputs["values"]["meshConfig"]["enableTracing"] = False

    run = edited(stack_run("prod"), "mesh-istiod", from_oci_with_tracing_off)
    assert violations(RULE["production-tracing-enabled"], run) == [
        "Helm release istiod sets meshConfig.enableTracing false in production environment 'production'; remove "
        "meshConfig.enableTracing from mesh-tracing:istio.istiod.extraValues."
    ]


def test_the_agents_own_tls_setting_is_judged_once_with_its_setting() -> None:
    def skip_verify(inputs: dict[str, Any]) -> None:
        _agent_exporter(inputs)["tls"] = {"insecure_skip_verify": True}

    run = edited(stack_run("remote"), "signoz-agent-release", skip_verify)
    assert violations(RULE["production-tls-verified"], run) == [], "the remote rule names the setting"
    assert violations(RULE["production-remote-tls-and-auth"], run) == [
        "The agent's exporter otlphttp/signoz-remote (release k8s-infra) does not verify TLS in production "
        "environment 'production'; set mesh-tracing:signoz.remote.insecureSkipVerify false."
    ]


def test_production_sampling_advisory() -> None:
    assert violations(RULE["production-sampling-at-most-10-percent"], stack_run("prod")) == []
    assert violations(RULE["production-sampling-at-most-10-percent"], stack_run("dev")) == [], "dev samples 100 %"

    def raise_sampling(inputs: dict[str, Any]) -> None:
        inputs["spec"]["tracing"][0]["randomSamplingPercentage"] = 25

    run = edited(stack_run("prod"), "mesh-telemetry", raise_sampling)
    assert violations(RULE["production-sampling-at-most-10-percent"], run) == [
        "Telemetry istio-system/mesh-default samples 25 % in production environment 'production'; above 10 % the "
        "trace volume is costly — lower mesh-tracing:samplingPercent (with tail sampling "
        "mesh-tracing:tailSampling.percent) or the namespace's override."
    ]


def test_collector_limits_advisory() -> None:
    assert violations(RULE["collector-resource-limits"], stack_run("prod")) == []
    assert violations(RULE["collector-resource-limits"], stack_run("remote")) == [], "the agent has both"

    def no_cpu_limit(inputs: dict[str, Any]) -> None:
        del inputs["values"]["otelAgent"]["resources"]["limits"]["cpu"]

    assert violations(
        RULE["collector-resource-limits"], edited(stack_run("remote"), "signoz-agent-release", no_cpu_limit)
    ) == [
        "The k8s-infra agent has no cpu limit; set mesh-tracing:signoz.collector.resources.limits "
        "(memory_limiter sizes itself from the memory limit)."
    ]
    assert violations(RULE["collector-resource-limits"], stack_run("dev")) == [
        "The SigNoz collector has no cpu limit; set mesh-tracing:signoz.collector.resources.limits "
        "(memory_limiter sizes itself from the memory limit)."
    ]
