"""verify in remote mode: did a span leave the cluster? Read from the agent's own counters.

In `signoz.mode: remote` the spans are stored by a SigNoz elsewhere, which this cluster's kube
context cannot query. What the cluster can show is the agent's exporter counters (its Prometheus
endpoint, names without a `_total` suffix, see components/signoz_agent.py): a verification span
posted to the agent must raise `otelcol_exporter_sent_spans` of our exporter, and nothing may land
in `otelcol_exporter_send_failed_spans`. Pure functions over the metrics text; cli.py fetches it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from kube import naming
from meshtools.postdeploy import Result

_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
RECEIVER_ACCEPTED_SPANS = "otelcol_receiver_accepted_spans"


def samples(text: str) -> Iterable[tuple[str, dict[str, str], float]]:
    """(metric, labels, value) of every sample in Prometheus' text exposition format."""
    for line in text.splitlines():
        found = _SAMPLE.match(line.strip())
        if not found or line.lstrip().startswith("#"):
            continue
        try:
            value = float(found.group(3))
        except ValueError:
            continue
        yield found.group(1), dict(_LABEL.findall(found.group(2) or "")), value


@dataclass(frozen=True)
class Counters:
    """The agent's export counters for our exporter, and the spans its Zipkin receiver accepted,
    summed over every agent pod (each node's agent counts its own)."""

    sent: float = 0
    failed: float = 0
    enqueue_failed: float = 0
    queued: float = 0
    capacity: float = 0
    received: float = 0

    def __add__(self, other: Counters) -> Counters:
        return Counters(*(a + b for a, b in zip(self.values(), other.values(), strict=True)))

    def values(self) -> tuple[float, ...]:
        return (self.sent, self.failed, self.enqueue_failed, self.queued, self.capacity, self.received)


def counters(text: str, exporter: str = naming.AGENT_EXPORTER) -> Counters:
    totals: dict[str, float] = {}
    for metric, labels, value in samples(text):
        name = metric.removesuffix("_total")  # either spelling, whatever the reader's suffix setting
        ours = labels.get("exporter") == exporter or (
            name == RECEIVER_ACCEPTED_SPANS and labels.get("receiver") == "zipkin"
        )
        if ours:
            totals[name] = totals.get(name, 0) + value
    return Counters(
        sent=totals.get(naming.AGENT_SENT_SPANS, 0),
        failed=totals.get(naming.AGENT_SEND_FAILED_SPANS, 0),
        enqueue_failed=totals.get(naming.AGENT_ENQUEUE_FAILED_SPANS, 0),
        queued=totals.get(naming.AGENT_QUEUE_SIZE, 0),
        capacity=totals.get(naming.AGENT_QUEUE_CAPACITY, 0),
        received=totals.get(RECEIVER_ACCEPTED_SPANS, 0),
    )


def total(per_pod: Mapping[str, str]) -> Counters:
    return sum((counters(text) for text in per_pod.values()), Counters())


def wait_for_export(
    read: Callable[[], Counters],
    before: Counters,
    *,
    timeout_seconds: float,
    interval_seconds: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> tuple[Counters, float]:
    """Poll until the exporter sent or failed more spans than `before` (the batch processor holds a
    span up to its timeout first), or the timeout passes; the last reading and the seconds waited."""
    started = clock()
    while True:
        after = read()
        elapsed = clock() - started
        if after.sent > before.sent or after.failed > before.failed or elapsed >= timeout_seconds:
            return after, elapsed
        sleep(interval_seconds)


def export_check(
    before: Counters, after: Counters, elapsed: float, endpoint: str, timeout: float, *, namespace: str
) -> Result:
    sent, failed = after.sent - before.sent, after.failed - before.failed
    dropped = after.enqueue_failed - before.enqueue_failed
    queue = f"queue {after.queued:g}/{after.capacity:g} spans"
    if failed > 0 or dropped > 0:
        return Result(
            False,
            f"{endpoint} refused spans: send_failed +{failed:g}, dropped on a full queue +{dropped:g} ({queue})",
            "check signoz.remote.endpoint, the ingest key (a 401/403 drops spans at once, no retry) and the "
            f"agent's log: kubectl -n {namespace} logs ds/{naming.agent_service_name()}",
        )
    if sent <= 0:
        waiting = (
            f"; {after.queued:g} span(s) queued, retried until signoz.remote.maxRetrySeconds" if after.queued else ""
        )
        return Result(
            False,
            f"nothing was exported to {endpoint} within {timeout:g} s{waiting}",
            "the central endpoint may be down or unreachable from the nodes (DNS, egress firewall, TLS); "
            "see the agent's log",
        )
    return Result(True, f"exported to {endpoint} after {elapsed:.1f} s: sent +{sent:g} span(s), 0 failed ({queue})")


def receiving_check(before: Counters) -> Result:
    """The remote counterpart of the sidecar-spans check: spans the agents accepted from sidecars
    before the verification span (cumulative since each agent started)."""
    if before.received <= 0:
        return Result(
            False,
            "the agents' Zipkin receivers accepted no span since they started",
            "likely causes: no requests reached meshed pods; pods without sidecars (see the sidecars check); "
            "sampling 0 %; or the agent is not scheduled on the nodes of those pods (internalTrafficPolicy Local)",
        )
    return Result(True, f"the agents' Zipkin receivers accepted {before.received:g} span(s) since they started")
