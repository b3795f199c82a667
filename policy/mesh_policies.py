"""Policy rules for mesh-tracing stacks, written against resource inputs as Pulumi hands them over.

Each rule is a plain function returning violation messages (what is wrong and how to fix it), so
the pack and its tests run exactly the same code. Values may be unknown during a preview and
secret values arrive wrapped; both are tolerated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Secret,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from config import guard_rails
from config.guard_rails import GuardRail, values_judged
from config.production import decide_production
from config.types import is_credential_header
from kube.collector_config import limiter_first
from kube.naming import PRODUCTION_LABEL
from kube.resources import HELM_RELEASE_TYPE as RELEASE
from kube.resources import PEER_AUTHENTICATION_TYPE as PEER_AUTHENTICATION
from kube.resources import TELEMETRY_TYPE as TELEMETRY
from kube.tree import dig

EXACT_VERSION = re.compile(r"^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$")

Resource = tuple[str, Mapping[str, Any]]  # (type token, inputs)


def plain(value: Any) -> Any:
    """Inputs with policy-SDK secret wrappers removed, and values unknown until the update left out.

    During `pulumi preview` what providers compute (an object's `status`, a generated password) is
    unknown, and the policy SDK raises on reading it, which stops the whole rule: a stack rule reads
    every resource, so one unknown anywhere would skip it. The rules read config-made values, known
    in a preview; an unknown one reads as absent (None in a list)."""
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, Mapping):
        return {key: plain(item) for key in value if (item := _known(value, key)) is not _UNKNOWN}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [None if (item := _known(value, i)) is _UNKNOWN else plain(item) for i in range(len(value))]
    return value


_UNKNOWN: Any = object()


def _known(node: Any, key: Any) -> Any:
    try:
        return node[key]
    except UnknownValueError:
        return _UNKNOWN


def _name(props: Mapping[str, Any]) -> str:
    return f"{dig(props, 'metadata', 'namespace')}/{dig(props, 'metadata', 'name')}"


def environment(resources: Iterable[Resource]) -> str | None:
    """The stack's environment, from the `environment` tag of the mesh-wide Telemetry."""
    for type_, props in resources:
        if type_ == TELEMETRY:
            for rule in dig(props, "spec", "tracing") or []:
                value = dig(rule, "customTags", "environment", "literal", "value")
                if isinstance(value, str):
                    return value
    return None


def production_environment(resources: Iterable[Resource]) -> str | None:
    """The environment's name when the stack is production, else None. The program labels the mesh
    Telemetry with its decision (`mesh-tracing:production`, or the environment's name by
    `decide_production`); without the label (a program that predates it) the same rule decides from
    the environment tag, and a name that cannot decide counts as production."""
    resources = list(resources)
    env = environment(resources)
    for type_, props in resources:
        label = dig(props, "metadata", "labels", PRODUCTION_LABEL) if type_ == TELEMETRY else None
        if label in ("true", "false"):
            return (env or "?") if label == "true" else None
    if env is None or decide_production(env).production is False:
        return None
    return env


def _chart(props: Mapping[str, Any]) -> str:
    """A release's chart name: `istiod` whether the release names it so (with a repository URL beside
    it) or as a reference into an OCI registry (`oci://registry.example.com/istio/istiod`)."""
    return str(props.get("chart") or "").rsplit("/", 1)[-1]


def _signoz_release(type_: str, props: Mapping[str, Any]) -> bool:
    return type_ == RELEASE and _chart(props) == "signoz"


def _agent_release(type_: str, props: Mapping[str, Any]) -> bool:
    """The k8s-infra agent a remote-mode stack runs instead of SigNoz."""
    return type_ == RELEASE and _chart(props) == "k8s-infra"


# Where the collector the mesh reports to keeps its config and its pod resources, per chart.
_COLLECTOR_VALUES = {"signoz": ("otelCollector", "collector"), "k8s-infra": ("otelAgent", "agent")}
# Headers that carry a SigNoz ingest key (the k8s-infra chart's own preset sends signoz-access-token).
AUTH_HEADERS = frozenset({"authorization", "signoz-ingestion-key", "signoz-access-token"})


# --------------------------------------------------------------------------- rules


def _refused(rail: GuardRail, value: Any, what: str, env: str) -> list[str]:
    """The production rails are config/guard_rails.py's, the same the settings reader applies; here
    they judge what the program registers, and the message names the resource."""
    return [f"{what} in production environment {env!r}; {rail.fix}."] if rail.refuses(value) else []


Found = tuple[Any, str]  # (the value a rail judges, the resource's words for it)
Finder = Callable[[str, Mapping[str, Any]], Iterable[Found]]


def _in_production(*judged: tuple[GuardRail, Finder]) -> Callable[[list[Resource]], list[str]]:
    """A stack rule that judges, in a production stack, each value a finder reads off a resource
    with the finder's rail."""

    def check(resources: list[Resource]) -> list[str]:
        env = production_environment(resources)
        if env is None:
            return []
        return [
            message
            for type_, props in resources
            for rail, find in judged
            for value, what in find(type_, props)
            for message in _refused(rail, value, what, env)
        ]

    return check


def _peer_authentication_mode(type_: str, props: Mapping[str, Any]) -> Iterable[Found]:
    if type_ == PEER_AUTHENTICATION:
        mode = dig(props, "spec", "mtls", "mode")
        yield mode, f"PeerAuthentication {_name(props)} has mTLS mode {mode}"


def _kiali_strategy(type_: str, props: Mapping[str, Any]) -> Iterable[Found]:
    if type_ == RELEASE and _chart(props) == "kiali-server":
        strategy = dig(props, "values", "auth", "strategy")
        yield strategy, f"Kiali release {props.get('name')} uses {strategy} access"


def _in_values(rail: GuardRail) -> tuple[GuardRail, Finder]:
    """`rail` over the release values it judges (config/guard_rails.values_judged: what the settings
    reader finds in a stack's extraValues, found here in what the program merged)."""

    def find(type_: str, props: Mapping[str, Any]) -> Iterable[Found]:
        values = props.get("values") if type_ == RELEASE else None
        if not isinstance(values, Mapping):
            return
        for judging, path, value in values_judged(_chart(props), values):
            if judging is rail:
                yield value, f"Helm release {props.get('name')} sets {'.'.join(path)} {json.dumps(value)}"

    return rail, find


strict_mtls_in_production = _in_production(
    (guard_rails.STRICT_MTLS, _peer_authentication_mode),
    _in_values(guard_rails.AUTO_MTLS),
)
kiali_not_anonymous_in_production = _in_production((guard_rails.KIALI_AUTHENTICATED, _kiali_strategy))
tracing_enabled_in_production = _in_production(_in_values(guard_rails.TRACING_ENABLED))
tls_verified_in_production = _in_production(_in_values(guard_rails.TLS_VERIFIED))


def no_credential_span_tags(type_: str, props: Mapping[str, Any]) -> list[str]:
    if type_ != TELEMETRY:
        return []
    found = []
    for rule in dig(props, "spec", "tracing") or []:
        for tag, source in (dig(rule, "customTags") or {}).items():
            header = dig(source, "header", "name")
            if isinstance(header, str) and is_credential_header(header):
                found.append(
                    f"Telemetry {_name(props)} tag {tag!r} copies request header {header!r} (a credential) into "
                    "every sampled span; remove the tag from customTags."
                )
    return found


def chart_version_pinned(type_: str, props: Mapping[str, Any]) -> list[str]:
    if type_ != RELEASE:
        return []
    version = props.get("version")
    if isinstance(version, str) and EXACT_VERSION.match(version):
        return []
    return [
        f"Helm release {props.get('name')} (chart {props.get('chart')}) has version {version!r}, not an exact "
        "version; pin it in versions/table.py."
    ]


def memory_limiter_first(type_: str, props: Mapping[str, Any]) -> list[str]:
    if type_ != RELEASE or _chart(props) not in _COLLECTOR_VALUES:
        return []
    key, what = _COLLECTOR_VALUES[_chart(props)]
    processors = dig(props, "values", key, "config", "service", "pipelines", "traces", "processors")
    if processors is None or limiter_first(processors):  # the data path's own predicate (meshtools/datapath.py)
        return []
    return [
        f"The {what}'s traces pipeline starts with {dig(processors, 0)!r}, not memory_limiter, so "
        "overload kills the pod instead of shedding load; put memory_limiter first (kube/collector_config.py)."
    ]


def _tail_share(resources: list[Resource]) -> float | None:
    """The stored share of a SigNoz release whose collector samples at the tail, if one does."""
    for type_, props in resources:
        if type_ != RELEASE or _chart(props) != "signoz":
            continue
        sampler = dig(props, "values", "otelCollector", "config", "processors", "tail_sampling")
        for policy in dig(sampler, "policies") or []:
            if policy.get("type") == "probabilistic":
                return float(dig(policy, "probabilistic", "sampling_percentage") or 0)
    return None


def production_sampling_at_most_10(resources: list[Resource]) -> list[str]:
    """The stored share of traces: Envoy's head sampling, or with tail sampling (Envoy at 100 %) the
    collector's probabilistic share."""
    env = production_environment(resources)
    if env is None:
        return []
    rail = guard_rails.SAMPLING_AT_MOST_10
    share = _tail_share(resources)
    if share is not None:
        what = f"The SigNoz collector keeps {share:g} % of the traces that are neither errors nor slow"
        return _refused(rail, share, what, env)
    return [
        message
        for type_, props in resources
        if type_ == TELEMETRY
        for rule in dig(props, "spec", "tracing") or []
        for percent in [rule.get("randomSamplingPercentage")]
        for message in _refused(rail, percent, f"Telemetry {_name(props)} samples {percent} %", env)
    ]


def collector_has_limits(type_: str, props: Mapping[str, Any]) -> list[str]:
    if type_ != RELEASE or _chart(props) not in _COLLECTOR_VALUES:
        return []
    key, _ = _COLLECTOR_VALUES[_chart(props)]
    limits = dig(props, "values", key, "resources", "limits") or {}
    missing = [k for k in ("cpu", "memory") if k not in limits]
    if not missing:
        return []
    who = "SigNoz collector" if _signoz_release(type_, props) else "k8s-infra agent"
    return [
        f"The {who} has no {' or '.join(missing)} limit; set "
        "mesh-tracing:signoz.collector.resources.limits (memory_limiter sizes itself from the memory limit)."
    ]


def remote_tls_and_auth_in_production(resources: list[Resource]) -> list[str]:
    """A production cluster sends its spans elsewhere only over verified TLS, with a key."""
    env = production_environment(resources)
    if env is None:
        return []
    found = []
    for type_, props in resources:
        if not _agent_release(type_, props):
            continue
        for exporter_id, exporter in (dig(props, "values", "otelAgent", "config", "exporters") or {}).items():
            if str(exporter_id).split("/", 1)[0] not in ("otlphttp", "otlp") or not isinstance(exporter, Mapping):
                continue
            where = f"The agent's exporter {exporter_id} (release {props.get('name')})"
            endpoint = str(exporter.get("endpoint", ""))
            tls = exporter.get("tls") or {}
            headers = {str(h).lower() for h in (exporter.get("headers") or {})}
            sends_key = bool(headers & AUTH_HEADERS) or bool(dig(exporter, "auth", "authenticator"))
            for rail, value, what in (
                (guard_rails.REMOTE_OVER_HTTPS, endpoint, f"sends to {endpoint!r}, not https://"),
                (guard_rails.REMOTE_VERIFIES_TLS, tls.get("insecure") or tls.get("insecure_skip_verify"),
                 "does not verify TLS"),
                (guard_rails.REMOTE_SENDS_KEY, sends_key, "sends no ingest key"),
            ):  # fmt: skip
                found += _refused(rail, value, f"{where} {what}", env)
    return found


def ingest_tls_in_production(resources: list[Resource]) -> list[str]:
    """A production central stack exposes its ingest receiver only behind TLS for every host."""
    env = production_environment(resources)
    if env is None:
        return []
    found = []
    for type_, props in resources:
        ingress = dig(props, "values", "otelCollector", "ingress") if _signoz_release(type_, props) else None
        if not isinstance(ingress, Mapping) or ingress.get("enabled") is not True:
            continue
        covered = {h for entry in ingress.get("tls") or [] if entry.get("secretName") for h in entry.get("hosts") or []}
        for host in [h.get("host") for h in ingress.get("hosts") or []]:
            what = f"The SigNoz collector's Ingress exposes {host} without TLS"
            found += _refused(guard_rails.INGEST_OVER_TLS, host in covered, what, env)
    return found


# --------------------------------------------------------------------------- the pack


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    level: EnforcementLevel
    resource_check: Callable[[str, Mapping[str, Any]], list[str]] | None = None
    stack_check: Callable[[list[Resource]], list[str]] | None = None

    def resource_validator(self) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
        check = self.resource_check
        assert check is not None

        def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
            for message in check(args.resource_type, plain(args.props)):
                report(message, None)

        return validate

    def stack_validator(self) -> Callable[[StackValidationArgs, ReportViolation], None]:
        check = self.stack_check
        assert check is not None

        def validate(args: StackValidationArgs, report: ReportViolation) -> None:
            resources = [(r.resource_type, plain(r.props)) for r in args.resources]
            for message in check(resources):
                report(message, None)

        return validate

    def policy(self) -> Policy:
        if self.resource_check is not None:
            return ResourceValidationPolicy(
                self.name, self.description, self.resource_validator(), enforcement_level=self.level
            )
        return StackValidationPolicy(self.name, self.description, self.stack_validator(), enforcement_level=self.level)


MANDATORY, ADVISORY = EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY

RULES = (
    Rule("production-strict-mtls", "Production stacks use STRICT mTLS everywhere, and callers send it.", MANDATORY,
         stack_check=strict_mtls_in_production),
    Rule("production-kiali-authenticated", "Kiali is not anonymous in production.", MANDATORY,
         stack_check=kiali_not_anonymous_in_production),
    Rule("no-credential-span-tags", "No span tag is sourced from a credential header.", MANDATORY,
         resource_check=no_credential_span_tags),
    Rule("helm-chart-version-pinned", "Every Helm release pins an exact chart version.", MANDATORY,
         resource_check=chart_version_pinned),
    Rule("collector-memory-limiter-first", "The collector's traces pipeline starts with memory_limiter.", MANDATORY,
         resource_check=memory_limiter_first),
    Rule("production-tracing-enabled", "Production meshes keep tracing on (meshConfig.enableTracing).", MANDATORY,
         stack_check=tracing_enabled_in_production),
    Rule("production-tls-verified", "No release skips verifying TLS certificates in production.", MANDATORY,
         stack_check=tls_verified_in_production),
    Rule("production-remote-tls-and-auth", "A production remote stack sends over verified TLS with a key.",
         MANDATORY, stack_check=remote_tls_and_auth_in_production),
    Rule("production-ingest-tls", "A production central stack exposes ingest only over TLS.", MANDATORY,
         stack_check=ingest_tls_in_production),
    Rule("production-sampling-at-most-10-percent", "Production sampling stays at or below 10 %.", ADVISORY,
         stack_check=production_sampling_at_most_10),
    Rule("collector-resource-limits", "The collector has CPU and memory limits.", ADVISORY,
         resource_check=collector_has_limits),
)  # fmt: skip


def policies() -> list[Policy]:
    return [rule.policy() for rule in RULES]
