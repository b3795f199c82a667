"""The results of the checks that send a span and read what arrived (pure functions). The checks a
ClusterView answers are in meshtools/datapath.py; what pods say about sidecars, in meshtools/sidecars.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from meshtools.postdeploy import Result
from meshtools.sidecars import JSON, restart_hint
from meshtools.verify.clickhouse import Arrival
from meshtools.verify.span import VERIFY_SERVICE


def round_trip(arrival: Arrival | None, expected: Mapping[str, str], timeout: float) -> Result:
    if arrival is None:
        return Result(
            False,
            f"the span did not reach ClickHouse within {timeout:g} s",
            "check the collector logs and the traces pipeline (exporters, memory_limiter refusals)",
        )
    wrong = {k: (arrival.resources.get(k), v) for k, v in expected.items() if arrival.resources.get(k) != v}
    if arrival.service != VERIFY_SERVICE or wrong:
        detail = f"arrived as service {arrival.service!r}; attributes seen/expected: {wrong}"
        return Result(False, detail, "check the collector's resource/mesh-tracing processor")
    return Result(True, f"arrived after {arrival.latency_seconds:.1f} s with {len(expected)} resource attributes")


def mesh_spans(
    rows: Iterable[JSON], environment: str, minutes: int, sampling_percent: float, *, sidecars_missing: bool, stack: str
) -> Result:
    """Whether the mesh itself reports: sidecar spans of this environment arrived lately."""
    counts = {str(row.get("service")): int(row.get("spans") or 0) for row in rows}
    if counts:
        shown = ", ".join(f"{service} ({n})" for service, n in list(counts.items())[:5])
        more = f" and {len(counts) - 5} more" if len(counts) > 5 else ""
        return Result(
            True,
            f"{sum(counts.values())} span(s) from {len(counts)} service(s) in the last {minutes} min: {shown}{more}",
        )
    reasons = [
        "no requests reached meshed pods in that time (send some to a service in a traced namespace)",
        f"pods without sidecars (see the sidecars check; {restart_hint(stack)})",
        "sampling 0 % (samplingPercent or a namespace's override)",
    ]
    if sampling_percent == 0:
        reasons.insert(0, reasons.pop(2).replace("sampling 0 %", "samplingPercent is 0: nothing is sampled"))
    elif sidecars_missing:
        reasons.insert(0, reasons.pop(1).replace("pods without sidecars", "pods without sidecars, as found above"))
    return Result(
        False,
        f"no span from an Istio sidecar (component=proxy, istio.canonical_service) with environment={environment} "
        f"in the last {minutes} min",
        "likely causes: " + "; ".join(reasons),
    )
