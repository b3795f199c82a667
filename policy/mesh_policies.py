"""Policy rules for mesh-tracing stacks, written against resource inputs as Pulumi hands them over.

Each rule is a plain function returning violation messages (what is wrong and how to fix it), so
the pack and its tests run exactly the same code. Values may be unknown during a preview and
secret values arrive wrapped; both are tolerated.
"""

from __future__ import annotations

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

from config.production import decide_production
from config.types import is_credential_header
from kube.collector_config import limiter_first
from kube.naming import PRODUCTION_LABEL
from kube.resources import HELM_RELEASE_TYPE as RELEASE
from kube.resources import PEER_AUTHENTICATION_TYPE as PEER_AUTHENTICATION
from kube.resources import TELEMETRY_TYPE as TELEMETRY
from kube.tree import dig

EXACT_VERSION = re.compile(r"^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$")
MAX_PRODUCTION_SAMPLING = 10.0

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


def _signoz_release(type_: str, props: Mapping[str, Any]) -> bool:
    return type_ == RELEASE and props.get("chart") == "signoz"


def _agent_release(type_: str, props: Mapping[str, Any]) -> bool:
    """The k8s-infra agent a remote-mode stack runs instead of SigNoz."""
    return type_ == RELEASE and props.get("chart") == "k8s-infra"


# Where the collector the mesh reports to keeps its config and its pod resources, per chart.
_COLLECTOR_VALUES = {"signoz": ("otelCollector", "collector"), "k8s-infra": ("otelAgent", "agent")}
# Headers that carry a SigNoz ingest key (the k8s-infra chart's own preset sends signoz-access-token).
AUTH_HEADERS = frozenset({"authorization", "signoz-ingestion-key", "signoz-access-token"})


# --------------------------------------------------------------------------- rules


def strict_mtls_in_production(resources: list[Resource]) -> list[str]:
    env = production_environment(resources)
    if env is None:
        return []
    return [
        f"PeerAuthentication {_name(props)} has mTLS mode {mode} in production environment {env!r}; "
        "set mesh-tracing:mtlsMode (and any tracedNamespaces[].mtlsMode) to STRICT."
        for type_, props in resources
        if type_ == PEER_AUTHENTICATION and (mode := dig(props, "spec", "mtls", "mode")) not in (None, "STRICT")
    ]


def kiali_not_anonymous_in_production(resources: list[Resource]) -> list[str]:
    env = production_environment(resources)
    if env is None:
        return []
    return [
        f"Kiali release {props.get('name')} uses anonymous access in production environment {env!r}; "
        "set mesh-tracing:kiali.auth.strategy to token or openid."
        for type_, props in resources
        if type_ == RELEASE
        and props.get("chart") == "kiali-server"
        and dig(props, "values", "auth", "strategy") == "anonymous"
    ]


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
    if type_ != RELEASE or props.get("chart") not in _COLLECTOR_VALUES:
        return []
    key, what = _COLLECTOR_VALUES[str(props.get("chart"))]
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
        if type_ != RELEASE or props.get("chart") != "signoz":
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
    share = _tail_share(resources)
    if share is not None:
        if share <= MAX_PRODUCTION_SAMPLING:
            return []
        return [
            f"The SigNoz collector keeps {share:g} % of the traces that are neither errors nor slow in production "
            f"environment {env!r}; above {MAX_PRODUCTION_SAMPLING:g} % the trace volume is costly — lower "
            "mesh-tracing:tailSampling.percent."
        ]
    found = []
    for type_, props in resources:
        for rule in (dig(props, "spec", "tracing") or []) if type_ == TELEMETRY else []:
            percent = rule.get("randomSamplingPercentage")
            if isinstance(percent, int | float) and percent > MAX_PRODUCTION_SAMPLING:
                found.append(
                    f"Telemetry {_name(props)} samples {percent} % in production environment {env!r}; above "
                    f"{MAX_PRODUCTION_SAMPLING:g} % the trace volume is costly — lower mesh-tracing:samplingPercent "
                    "or the namespace override."
                )
    return found


def collector_has_limits(type_: str, props: Mapping[str, Any]) -> list[str]:
    if type_ != RELEASE or props.get("chart") not in _COLLECTOR_VALUES:
        return []
    key, _ = _COLLECTOR_VALUES[str(props.get("chart"))]
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
            where = f"The agent's exporter {exporter_id} (release {props.get('name')}, production environment {env!r})"
            endpoint = str(exporter.get("endpoint", ""))
            if not endpoint.startswith("https://"):
                found.append(f"{where} sends to {endpoint!r}, not https://; set mesh-tracing:signoz.remote.endpoint.")
            tls = exporter.get("tls") or {}
            if tls.get("insecure") is True or tls.get("insecure_skip_verify") is True:
                found.append(f"{where} does not verify TLS; set mesh-tracing:signoz.remote.insecureSkipVerify false.")
            headers = {str(h).lower() for h in (exporter.get("headers") or {})}
            if not headers & AUTH_HEADERS and not dig(exporter, "auth", "authenticator"):
                found.append(
                    f"{where} sends no ingest key; set mesh-tracing:signoz.remote.auth to bearer or signozCloud."
                )
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
            if host not in covered:
                found.append(
                    f"The SigNoz collector's Ingress exposes {host} without TLS in production environment {env!r}; "
                    "set mesh-tracing:signoz.ingest.tlsSecretName."
                )
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
    Rule("production-strict-mtls", "Production stacks use STRICT mTLS everywhere.", MANDATORY,
         stack_check=strict_mtls_in_production),
    Rule("production-kiali-authenticated", "Kiali is not anonymous in production.", MANDATORY,
         stack_check=kiali_not_anonymous_in_production),
    Rule("no-credential-span-tags", "No span tag is sourced from a credential header.", MANDATORY,
         resource_check=no_credential_span_tags),
    Rule("helm-chart-version-pinned", "Every Helm release pins an exact chart version.", MANDATORY,
         resource_check=chart_version_pinned),
    Rule("collector-memory-limiter-first", "The collector's traces pipeline starts with memory_limiter.", MANDATORY,
         resource_check=memory_limiter_first),
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
