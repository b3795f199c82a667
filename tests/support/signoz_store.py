"""SigNoz's trace table in an embedded ClickHouse (chdb): what verify queries, as the exporter fills it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from chdb import session as chdb_session

from meshtools.verify.clickhouse import TRACE_TABLE

SIGNOZ_TABLE_DDL = f"""
CREATE TABLE {TRACE_TABLE} (
    timestamp DateTime64(9) CODEC(DoubleDelta, LZ4),
    ts_bucket_start UInt64,
    trace_id FixedString(32),
    span_id String,
    parent_span_id String,
    name LowCardinality(String),
    kind Int8,
    duration_nano UInt64,
    resources_string Map(LowCardinality(String), String),
    attributes_string Map(String, String),
    `resource_string_service$$name` LowCardinality(String) DEFAULT resources_string['service.name'],
    serviceName String ALIAS `resource_string_service$$name`
) ENGINE = MergeTree PARTITION BY toDate(timestamp) ORDER BY (ts_bucket_start, trace_id)
"""


@contextmanager
def signoz_clickhouse() -> Iterator[Any]:
    """A fresh embedded ClickHouse (about 50 ms) with SigNoz's trace table."""
    session = chdb_session.Session()
    session.query("CREATE DATABASE IF NOT EXISTS signoz_traces")
    session.query(SIGNOZ_TABLE_DDL)
    try:
        yield session
    finally:
        session.close()


def insert_span(
    clickhouse: Any,
    trace_id: str,
    service: str,
    resources: dict[str, str],
    attributes: dict[str, str] | None = None,
    *,
    name: str = "mesh-tracing verify",
    minutes_ago: int = 0,
) -> None:
    """One row as the clickhousetraces exporter writes it (the columns verify reads)."""

    def pairs(values: dict[str, str]) -> str:
        return ", ".join(f"'{k}', '{v}'" for k, v in values.items())

    attributes_map = f"map({pairs(attributes)})" if attributes else "map()"
    at = f"now64(9) - toIntervalMinute({minutes_ago})"
    clickhouse.query(
        f"INSERT INTO {TRACE_TABLE} (timestamp, ts_bucket_start, trace_id, span_id, name, resources_string, "
        f"attributes_string) VALUES ({at}, intDiv(toUnixTimestamp({at}), 1800) * 1800, '{trace_id}', "
        f"'00f067aa0ba902b7', '{name}', map({pairs(resources | {'service.name': service})}), {attributes_map})"
    )
