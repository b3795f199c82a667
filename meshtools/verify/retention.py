"""Apply the configured trace retention through SigNoz's settings API, idempotently."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TTL_PATH = "/api/v1/settings/ttl"
# (method, path, query, headers) -> (HTTP status, JSON body)
Http = Callable[[str, str, dict[str, str], dict[str, str]], tuple[int, Any]]


@dataclass(frozen=True)
class RetentionResult:
    changed: bool
    hours_in_effect: int | None
    status: str
    message: str


def set_retention(http: Http, api_key: str, days: int) -> RetentionResult:
    """GET the current TTL; POST the new one only if it differs and no change is pending.

    SigNoz applies the TTL asynchronously (ALTER … MODIFY TTL); `status` says pending/success/failed.
    """
    headers = {"SIGNOZ-API-KEY": api_key}
    wanted = days * 24
    status_code, current = http("GET", TTL_PATH, {"type": "traces"}, headers)
    if status_code in {401, 403}:
        return RetentionResult(
            False, None, "error", f"SigNoz refused the API key (HTTP {status_code}); use an admin key"
        )
    if status_code != 200:
        return RetentionResult(False, None, "error", f"GET {TTL_PATH} answered HTTP {status_code}: {current}")
    hours, state = current.get("traces_ttl_duration_hrs"), current.get("status", "")
    if state == "pending":
        return RetentionResult(False, hours, state, "a retention change is still being applied; run again later")
    if hours == wanted and state != "failed":
        return RetentionResult(False, hours, state, f"trace retention already {wanted} h ({days} days)")
    status_code, answer = http("POST", TTL_PATH, {"type": "traces", "duration": f"{wanted}h"}, headers)
    if status_code not in {200, 201, 202}:
        return RetentionResult(False, hours, "error", f"POST {TTL_PATH} answered HTTP {status_code}: {answer}")
    _, after = http("GET", TTL_PATH, {"type": "traces"}, headers)
    return RetentionResult(
        True,
        after.get("traces_ttl_duration_hrs") if isinstance(after, dict) else None,
        after.get("status", "") if isinstance(after, dict) else "",
        f"trace retention set to {wanted} h ({days} days); verify with SHOW CREATE TABLE signoz_traces.signoz_index_v3",
    )
