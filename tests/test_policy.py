"""The policy pack, run on the recorded resources of the real stacks: a pass and a violation each."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    Secret,
    StackValidationArgs,
)

from meshtools.recording import Resource, Run, run_stack
from policy.mesh_policies import RULES, Rule, policies
from tests.conftest import raw_settings, shipped_run

RULE = {rule.name: rule for rule in RULES}


def _options(resource: Resource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=resource.protect,
        ignore_changes=list(resource.ignore_changes),
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
    )


def _props(resource: Resource) -> dict[str, Any]:
    """Inputs as the policy SDK hands them over: secret properties wrapped in `Secret`."""
    return {k: Secret(v) if k in resource.secret_inputs else v for k, v in resource.inputs.items()}


def violations(rule: Rule, run: Run) -> list[str]:
    """Run the exact validator the pack registers over every recorded resource."""
    found: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(message)

    if rule.resource_check is not None:
        validate = rule.resource_validator()
        for r in run:
            validate(ResourceValidationArgs(r.type, _props(r), r.urn, r.name, _options(r), None), report)
    else:
        resources = [PolicyResource(r.type, _props(r), r.urn, r.name, _options(r), None, None, [], {}) for r in run]
        rule.stack_validator()(StackValidationArgs(resources), report)
    return found


def edited(run: Run, name: str, edit: Callable[[dict[str, Any]], None]) -> Run:
    copied = copy.deepcopy(run)
    target = next(r for r in copied.resources if r.name == name)
    edit(target.inputs)
    return copied


def test_the_pack_has_every_rule_with_its_level() -> None:
    assert {r.name: r.level for r in RULES} == {
        "production-strict-mtls": EnforcementLevel.MANDATORY,
        "production-kiali-authenticated": EnforcementLevel.MANDATORY,
        "no-credential-span-tags": EnforcementLevel.MANDATORY,
        "helm-chart-version-pinned": EnforcementLevel.MANDATORY,
        "collector-memory-limiter-first": EnforcementLevel.MANDATORY,
        "production-sampling-at-most-10-percent": EnforcementLevel.ADVISORY,
        "collector-resource-limits": EnforcementLevel.ADVISORY,
    }
    assert len(policies()) == len(RULES)


@pytest.mark.parametrize("stack_name", ["dev", "prod"])
def test_shipped_stacks_pass_every_mandatory_rule(stack_name: str) -> None:
    run = shipped_run(stack_name)
    for rule in RULES:
        if rule.level is EnforcementLevel.MANDATORY:
            assert violations(rule, run) == [], rule.name


def test_strict_mtls_in_production() -> None:
    run = run_stack("prod", {"tracedNamespaces": [{"name": "legacy", "mtlsMode": "PERMISSIVE"}]})
    assert violations(RULE["production-strict-mtls"], run) == [
        "PeerAuthentication legacy/default has mTLS mode PERMISSIVE in production environment 'production'; "
        "set mesh-tracing:mtlsMode (and any tracedNamespaces[].mtlsMode) to STRICT."
    ]
    assert violations(RULE["production-strict-mtls"], shipped_run("dev")) == [], "dev may be PERMISSIVE"


def test_kiali_authenticated_in_production() -> None:
    kiali = raw_settings("prod")["kiali"] | {"auth": {"strategy": "anonymous", "allowAnonymousInProduction": True}}
    run = run_stack("prod", {"kiali": kiali})
    assert violations(RULE["production-kiali-authenticated"], run) == [
        "Kiali release kiali uses anonymous access in production environment 'production'; "
        "set mesh-tracing:kiali.auth.strategy to token or openid."
    ]
    assert violations(RULE["production-kiali-authenticated"], shipped_run("dev")) == [], "dev may be anonymous"


def test_no_credential_span_tags() -> None:
    def add_auth_tag(inputs: dict[str, Any]) -> None:
        tags = inputs["spec"]["tracing"][0]["customTags"]
        tags["auth"] = {"header": {"name": "Authorization", "defaultValue": "[REDACTED]"}}

    run = edited(shipped_run("prod"), "ns-checkout-telemetry", add_auth_tag)
    assert violations(RULE["no-credential-span-tags"], run) == [
        "Telemetry checkout/mesh-tracing tag 'auth' copies request header 'Authorization' (a credential) into "
        "every sampled span; remove the tag from customTags."
    ]
    assert violations(RULE["no-credential-span-tags"], shipped_run("prod")) == [], "x-tenant-id is fine"


def test_chart_versions_pinned() -> None:
    def float_version(inputs: dict[str, Any]) -> None:
        inputs["version"] = "^1.30"

    run = edited(shipped_run("dev"), "mesh-istiod", float_version)
    assert violations(RULE["helm-chart-version-pinned"], run) == [
        "Helm release istiod (chart istiod) has version '^1.30', not an exact version; "
        "pin it in components/versions.py."
    ]


def test_memory_limiter_first() -> None:
    def reorder(inputs: dict[str, Any]) -> None:
        processors = inputs["values"]["otelCollector"]["config"]["service"]["pipelines"]["traces"]["processors"]
        processors.append(processors.pop(0))

    run = edited(shipped_run("prod"), "signoz-release", reorder)
    assert violations(RULE["collector-memory-limiter-first"], run) == [
        "The collector's traces pipeline starts with 'resource/mesh-tracing', not memory_limiter, so overload kills "
        "the pod instead of shedding load; put memory_limiter first (components/collector_config.py)."
    ]


def test_production_sampling_advisory() -> None:
    assert violations(RULE["production-sampling-at-most-10-percent"], shipped_run("prod")) == []
    assert violations(RULE["production-sampling-at-most-10-percent"], shipped_run("dev")) == [], "dev samples 100 %"
    run = run_stack("prod", {"samplingPercent": 25})
    assert violations(RULE["production-sampling-at-most-10-percent"], run) == [
        "Telemetry istio-system/mesh-default samples 25 % in production environment 'production'; above 10 % the "
        "trace volume is costly — lower mesh-tracing:samplingPercent or the namespace override."
    ]


def test_collector_limits_advisory() -> None:
    assert violations(RULE["collector-resource-limits"], shipped_run("prod")) == []
    assert violations(RULE["collector-resource-limits"], shipped_run("dev")) == [
        "The SigNoz collector has no cpu limit; set mesh-tracing:signoz.collector.resources.limits "
        "(memory_limiter sizes itself from the memory limit)."
    ]
