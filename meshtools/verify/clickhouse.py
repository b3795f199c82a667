"""Find a trace in SigNoz's ClickHouse, polling until it arrives or a deadline passes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

TRACE_TABLE = "signoz_traces.distributed_signoz_index_v3"
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


def arrival_query(trace_id: str) -> str:
    """Spans of one trace; `serviceName` is the table's alias of resources_string['service.name']."""
    if not _TRACE_ID.match(trace_id):
        raise ValueError(f"not a 128-bit lower-case hex trace id: {trace_id!r}")
    return (
        "SELECT serviceName, name, resources_string AS resources "
        f"FROM {TRACE_TABLE} "
        f"WHERE trace_id = '{trace_id}' AND timestamp > now() - INTERVAL 1 HOUR "
        "FORMAT JSONEachRow"
    )


@dataclass(frozen=True)
class Arrival:
    service: str
    name: str
    resources: dict[str, str]
    latency_seconds: float


def parse_rows(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def wait_for_trace(
    query: Callable[[str], str],
    trace_id: str,
    *,
    timeout_seconds: float,
    interval_seconds: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    progress: Callable[[float], None] = lambda elapsed: None,
) -> Arrival | None:
    """Poll until the trace is in ClickHouse (batching and async inserts take seconds); None on timeout."""
    sql = arrival_query(trace_id)
    started = clock()
    while True:
        rows = parse_rows(query(sql))
        elapsed = clock() - started
        if rows:
            row = rows[0]
            resources = row.get("resources")
            return Arrival(
                service=str(row.get("serviceName", "")),
                name=str(row.get("name", "")),
                resources={str(k): str(v) for k, v in resources.items()} if isinstance(resources, dict) else {},
                latency_seconds=elapsed,
            )
        if elapsed >= timeout_seconds:
            return None
        progress(elapsed)
        sleep(interval_seconds)
