"""The production guard rails: each rule written once, as a predicate over one value.

Two readers apply them. The settings reader (config/reading.py) judges the value a stack file sets
and names the key at fault; the policy pack (policy/mesh_policies.py) judges the same value where the
program put it (a PeerAuthentication's mode, a release's values) and names the resource, so a rail
that code or a hand edit bypasses is still refused at deploy time. Each side only finds the value;
whether it is allowed, what it must be and which setting fixes it are said here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GuardRail:
    """One production rule. `holds` judges a value as either reader finds it (enums as their
    string values, booleans as booleans, None where the value is left out); `requirement` is what a
    refused value must be instead (the reader's words, beside the key), and `fix` what to change
    (the policy pack's words, beside the resource)."""

    holds: Callable[[Any], bool]
    requirement: str
    fix: str

    def refuses(self, value: Any) -> bool:
        return not self.holds(value)


STRICT_MTLS = GuardRail(
    holds=lambda mode: mode in (None, "STRICT"),
    requirement="must be STRICT",
    fix="set mesh-tracing:mtlsMode (and any tracedNamespaces[].mtlsMode) to STRICT",
)
KIALI_AUTHENTICATED = GuardRail(
    holds=lambda strategy: strategy != "anonymous",
    requirement="must be 'token' or 'openid'",
    fix="set mesh-tracing:kiali.auth.strategy to token or openid",
)
# Remote mode: the spans of a production cluster leave it only over verified TLS, with a key.
REMOTE_OVER_HTTPS = GuardRail(
    holds=lambda endpoint: isinstance(endpoint, str) and endpoint.startswith("https://"),
    requirement="must be an https:// URL",
    fix="set mesh-tracing:signoz.remote.endpoint",
)
REMOTE_VERIFIES_TLS = GuardRail(
    holds=lambda skip_verify: skip_verify is not True,
    requirement="must be false (verify TLS)",
    fix="set mesh-tracing:signoz.remote.insecureSkipVerify false",
)
REMOTE_SENDS_KEY = GuardRail(
    holds=lambda sends_key: sends_key is True,
    requirement="must be 'bearer' or 'signozCloud'",
    fix="set mesh-tracing:signoz.remote.auth to bearer or signozCloud",
)
# A central stack's ingest receiver takes other clusters' keys: never in plain text.
INGEST_OVER_TLS = GuardRail(
    holds=bool,
    requirement="required (the ingest key never crosses the network in plain text)",
    fix="set mesh-tracing:signoz.ingest.tlsSecretName",
)
# Chart values the program leaves to the chart but a stack's extraValues could set (the reader
# judges them there, the policy pack in the release's merged values):
# - istiod's meshConfig.enableTracing false stops every proxy reporting spans;
TRACING_ENABLED = GuardRail(
    holds=lambda enable_tracing: enable_tracing is not False,
    requirement="must not be false: the mesh would report no spans",
    fix="remove meshConfig.enableTracing from mesh-tracing:istio.istiod.extraValues",
)
# - meshConfig.enableAutoMtls false makes callers send plain text unless a DestinationRule says
#   otherwise: mTLS off from the client side, whatever the PeerAuthentication;
AUTO_MTLS = GuardRail(
    holds=lambda enable_auto_mtls: enable_auto_mtls is not False,
    requirement="must not be false: callers would stop sending mTLS",
    fix="remove meshConfig.enableAutoMtls from mesh-tracing:istio.istiod.extraValues",
)
# - any TLS client setting that skips verifying the server's certificate.
TLS_VERIFIED = GuardRail(
    holds=lambda skip_verify: skip_verify is not True,
    requirement="must not be true: the server's certificate would go unverified",
    fix="remove it from the release's extraValues",
)
ISTIOD_CHART = "istiod"
# meshConfig fields by their JSON and proto names (istiod reads either).
_MESH_CONFIG_RAILS = (
    (("enableTracing", "enable_tracing"), TRACING_ENABLED),
    (("enableAutoMtls", "enable_auto_mtls"), AUTO_MTLS),
)
SKIP_VERIFY_KEYS = frozenset({"insecure_skip_verify", "insecureSkipVerify", "insecureSkipTLSVerify"})
# The remote agent's exporters are the program's own, written from mesh-tracing:signoz.remote (the
# settings refuse them in extraValues): REMOTE_VERIFIES_TLS judges their TLS, with that fix.
_JUDGED_ELSEWHERE = {"k8s-infra": ("otelAgent", "config", "exporters")}


def values_judged(chart: str, values: Mapping[str, Any]) -> Iterator[tuple[GuardRail, tuple[str, ...], Any]]:
    """Every value inside a release's chart values that a rail judges, with its path: the reader
    passes a stack's extraValues, the policy pack a release's merged values, so both find the same."""
    mesh_config = values.get("meshConfig") if chart == ISTIOD_CHART else None
    if isinstance(mesh_config, Mapping):
        for names, rail in _MESH_CONFIG_RAILS:
            for name in names:
                if name in mesh_config:
                    yield rail, ("meshConfig", name), mesh_config[name]
    judged_elsewhere = _JUDGED_ELSEWHERE.get(chart)
    for path, value in _leaves(values, ()):
        if path[-1] in SKIP_VERIFY_KEYS and path[: len(judged_elsewhere or ())] != judged_elsewhere:
            yield TLS_VERIFIED, path, value


def _leaves(node: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(node, Mapping):
        for key, item in node.items():
            yield from _leaves(item, (*path, str(key)))
    elif isinstance(node, list):
        for item in node:
            yield from _leaves(item, path)
    elif path:
        yield path, node


# The demo workload is for trying the stack out; the policy pack cannot tell it from a workload.
NO_DEMO = GuardRail(
    holds=lambda demo: demo is not True,
    requirement="must be false (the demo workload is for trying the stack out)",
    fix="set mesh-tracing:demo false",
)
# Advisory only (the policy pack warns, the reader lets it through): above this share the trace
# volume is costly, but a team may choose it for a while.
MAX_PRODUCTION_SAMPLING = 10.0
SAMPLING_AT_MOST_10 = GuardRail(
    holds=lambda percent: not isinstance(percent, int | float) or percent <= MAX_PRODUCTION_SAMPLING,
    requirement=f"above {MAX_PRODUCTION_SAMPLING:g} % the trace volume is costly",
    fix=f"above {MAX_PRODUCTION_SAMPLING:g} % the trace volume is costly — lower mesh-tracing:samplingPercent "
    "(with tail sampling mesh-tracing:tailSampling.percent) or the namespace's override",
)
