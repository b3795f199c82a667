"""A Zipkin v2 JSON span, as Envoy would POST it to /api/v2/spans."""

from __future__ import annotations

import re
import secrets
from typing import Any

VERIFY_SERVICE = "mesh-tracing-verify"
KINDS = ("CLIENT", "SERVER", "PRODUCER", "CONSUMER")
_HEX = re.compile(r"^[0-9a-f]+$")


def new_trace_id() -> str:
    """A fresh 128-bit trace id (32 lower-case hex digits): no 64-bit padding question downstream."""
    return secrets.token_hex(16)


def new_span_id() -> str:
    return secrets.token_hex(8)


def verification_span(
    trace_id: str,
    span_id: str,
    start_us: int,
    duration_us: int = 1000,
    *,
    kind: str = "SERVER",
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One span; timestamps and durations are epoch microseconds, as Zipkin v2 requires."""
    if len(trace_id) != 32 or not _HEX.match(trace_id):
        raise ValueError(f"trace id must be 32 lower-case hex digits, got {trace_id!r}")
    if len(span_id) != 16 or not _HEX.match(span_id):
        raise ValueError(f"span id must be 16 lower-case hex digits, got {span_id!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return {
        "traceId": trace_id,
        "id": span_id,
        "name": "mesh-tracing verify",
        "kind": kind,
        "timestamp": int(start_us),
        "duration": max(1, int(duration_us)),
        "localEndpoint": {"serviceName": VERIFY_SERVICE},
        "tags": {key: str(value) for key, value in (tags or {}).items()},
    }
