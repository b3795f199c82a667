"""Run the policy pack's own validators over a recorded run, as `pulumi preview --policy-pack` would."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    Secret,
    StackValidationArgs,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from meshtools.recording import Resource, Run
from policy.mesh_policies import Rule


def _options(resource: Resource) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=resource.protect,
        ignore_changes=list(resource.ignore_changes),
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
    )


def _props(resource: Resource, preview: bool = False) -> Mapping[str, Any]:
    """Inputs as the policy SDK hands them over: secret properties wrapped in `Secret`, and every
    mapping and list inside the SDK's read-only proxies (`Mapping`/`Sequence`, not dict/list). In a
    preview, what the provider computes is unknown, e.g. an object's `status`: reading it raises."""
    props = {k: Secret(v) if k in resource.secret_inputs else v for k, v in resource.inputs.items()}
    if preview:
        props["status"] = UNKNOWN_STRING_VALUE
    proxied: Mapping[str, Any] = unknown_checking_proxy(props)
    return proxied


def violations(rule: Rule, run: Run, *, preview: bool = False) -> list[str]:
    """Run the exact validator the pack registers over every recorded resource (as `pulumi preview`
    hands them over when `preview`, else as `pulumi up` does)."""
    found: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(message)

    if rule.resource_check is not None:
        validate = rule.resource_validator()
        for r in run:
            validate(ResourceValidationArgs(r.type, _props(r, preview), r.urn, r.name, _options(r), None), report)
    else:
        resources = [
            PolicyResource(r.type, _props(r, preview), r.urn, r.name, _options(r), None, None, [], {}) for r in run
        ]
        rule.stack_validator()(StackValidationArgs(resources), report)
    return found
