"""Apply the configured trace retention through SigNoz's settings API, the way SigNoz really does it.

SigNoz v0.131.0 (pkg/query-service/app/clickhouseReader/reader.go, setTTLTraces/GetTTL):
- POST /api/v1/settings/ttl?type=traces&duration=<n>h answers 200 at once; the work runs afterwards,
  one goroutine per trace table: insert a `pending` row into its SQL store table `ttl_setting`, run
  `ALTER TABLE … MODIFY TTL`, mark the row `success` or `failed`. So a GET right after the POST can
  still show the old hours and `success`.
- GET reads the hours from ClickHouse (`engine_full` of signoz_traces.signoz_index_v3): they change
  only when the ALTER has run, which is what "done" means here. `status` is `pending` while the
  newest row of any trace table is pending — forever when SigNoz restarted mid-change, since nothing
  resumes or expires those rows (SigNoz/signoz#1831; the intended one-hour cut-off never applies).
- The POST refuses with 409 "TTL is already running" when a pending row exists — but for traces it
  looks the rows up under the distributed table names while the goroutines write the local names, so
  SigNoz's own pending trace changes never block a new one (the logs and metrics paths do block).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from meshtools.cli import ToolError

TTL_PATH = "/api/v1/settings/ttl"
API_KEY_HEADER = "SIGNOZ-API-KEY"  # pkg/identn/config.go, the default API-key header
# (method, path, query, headers) -> (HTTP status, JSON body or text)
Http = Callable[[str, str, dict[str, str], dict[str, str]], tuple[int, Any]]


class RetentionError(ToolError):
    """SigNoz cannot be asked: the key is refused, the proxy is refused, or SigNoz is not there."""


class Outcome(enum.Enum):
    ALREADY = "already"  # ClickHouse already keeps traces that long
    REQUESTED = "requested"  # POST accepted; SigNoz applies it in the background
    DONE = "done"  # requested and seen in ClickHouse
    PENDING = "pending"  # another change is pending: nothing was requested
    CONFLICT = "conflict"  # SigNoz answered 409
    FAILED = "failed"  # SigNoz ran the ALTER and it failed
    TIMEOUT = "timeout"  # requested, not in ClickHouse before the deadline

    @property
    def exit_code(self) -> int:
        return 0 if self in {Outcome.ALREADY, Outcome.REQUESTED, Outcome.DONE} else 1


@dataclass(frozen=True)
class TtlState:
    """GET /api/v1/settings/ttl?type=traces: hours in ClickHouse, hours of the newest request, status."""

    hours: int | None
    expected: int | None
    status: str

    def describe(self) -> str:
        return f"{_hours(self.hours)} in ClickHouse, status {self.status or 'unknown'}"


@dataclass(frozen=True)
class RetentionResult:
    outcome: Outcome
    state: TtlState
    message: str


def _hours(hours: int | None) -> str:
    if hours is None or hours < 0:
        return "no TTL"
    return f"{hours} h ({hours / 24:g} days)"


def stuck_pending_help(namespace: str) -> str:
    """What SigNoz stores about TTL changes, how to tell a running change from a stuck one, how to clear it."""
    return (
        "SigNoz records each change as one row per trace table in its `ttl_setting` table (SQLite "
        f"/var/lib/signoz/signoz.db on the PVC of StatefulSet signoz in {namespace}, or PostgreSQL when the chart's "
        "postgresql is enabled), status pending → success|failed. Nothing resumes or expires a pending row: if "
        "SigNoz restarted during a change, it stays pending for good (SigNoz/signoz#1831).\n"
        f"Check: `kubectl -n {namespace} get pod signoz-0` (restarts since the change?), its log for "
        "'ExecutingTTL request' / 'Error in executing set TTL query', and the rows: "
        "SELECT table_name, ttl, status, updated_at FROM ttl_setting "
        "WHERE table_name LIKE 'signoz_traces.%' ORDER BY created_at DESC LIMIT 7;\n"
        "If no change is running, clear it: UPDATE ttl_setting SET status='failed', updated_at=CURRENT_TIMESTAMP "
        "WHERE status='pending' AND table_name LIKE 'signoz_traces.%'; — the signoz image has no sqlite3: "
        "scale the StatefulSet to 0 and open the database from a pod that mounts the PVC. Then run this again."
    )


def _refusal(method: str, status: int, body: Any) -> RetentionError | None:
    """Answers that mean SigNoz cannot be asked at all, told apart by who gave them."""
    if isinstance(body, Mapping) and body.get("kind") == "Status":  # the API server, not SigNoz
        message = body.get("message", "")
        if status == 403:
            return RetentionError(
                f"the API server refused the service proxy to SigNoz ({message}); "
                "your kube user needs `create` and `get` on services/proxy in the SigNoz namespace"
            )
        return RetentionError(f"the API server could not reach SigNoz (HTTP {status}: {message})")
    if status == 401:
        return RetentionError("SigNoz did not accept SIGNOZ_API_KEY (HTTP 401): the key is unknown, revoked or expired")
    if status == 403:
        return RetentionError(
            "SigNoz refused the key (HTTP 403: only admins can change retention): make the key on a service "
            "account with the Admin role (Settings → Service Accounts)"
        )
    if status >= 400 and method == "GET":
        return RetentionError(f"GET {TTL_PATH} answered HTTP {status}: {body}")
    return None


def read_ttl(http: Http, headers: dict[str, str]) -> TtlState:
    status, body = http("GET", TTL_PATH, {"type": "traces"}, headers)
    refused = _refusal("GET", status, body)
    if refused is not None:
        raise refused
    if not isinstance(body, Mapping):
        raise RetentionError(f"GET {TTL_PATH} answered something that is not SigNoz's TTL JSON: {body!r}")
    return TtlState(
        body.get("traces_ttl_duration_hrs"), body.get("expected_traces_ttl_duration_hrs"), body.get("status", "")
    )


def set_retention(
    http: Http,
    api_key: str,
    days: int,
    *,
    namespace: str,
    wait: bool = False,
    timeout_seconds: float = 120,
    interval_seconds: float = 3,
    clock: Callable[[], float] = lambda: 0.0,
    sleep: Callable[[float], None] = lambda seconds: None,
) -> RetentionResult:
    """GET the TTL; POST the new one when ClickHouse differs and no change is pending; with `wait`,
    poll until ClickHouse has it, SigNoz reports the ALTER failed, or the timeout passes."""
    headers = {API_KEY_HEADER: api_key}
    wanted = days * 24
    before = read_ttl(http, headers)
    if before.hours == wanted:
        return RetentionResult(Outcome.ALREADY, before, f"trace retention is already {_hours(wanted)} in ClickHouse")
    if before.status == "pending" and before.expected != wanted:
        return RetentionResult(
            Outcome.PENDING,
            before,
            f"nothing requested: SigNoz reports a change to {_hours(before.expected)} as pending "
            f"({before.describe()}).\n{stuck_pending_help(namespace)}",
        )
    if before.status == "pending":
        outcome, requested = Outcome.REQUESTED, f"{_hours(wanted)} was already requested and is pending"
    else:
        status, body = http("POST", TTL_PATH, {"type": "traces", "duration": f"{wanted}h"}, headers)
        if status == 409:
            return RetentionResult(
                Outcome.CONFLICT,
                before,
                "SigNoz answered 409 (TTL is already running): a ttl_setting row of a trace table is pending. "
                "SigNoz v0.131.0 looks those rows up under the distributed table names while it writes its own under "
                "the local ones, so its own trace changes never cause this; the row came from elsewhere (an older "
                f"SigNoz, or a hand edit).\n{stuck_pending_help(namespace)}",
            )
        refused = _refusal("POST", status, body)
        if refused is not None:
            raise refused
        if status != 200:
            raise RetentionError(f"POST {TTL_PATH} answered HTTP {status}: {body}")
        outcome, requested = Outcome.REQUESTED, f"requested {_hours(wanted)} (ClickHouse had {_hours(before.hours)})"
    if not wait:
        return RetentionResult(
            outcome,
            before,
            f"trace retention {requested}; SigNoz applies it in the background (ALTER TABLE … MODIFY TTL). "
            "It is done when ClickHouse reports it: run again with --wait, or later without it, until it says "
            f"'already {_hours(wanted)}' (a change that stays pending is explained there)",
        )
    return _wait_for(
        http, headers, wanted, requested, namespace,
        timeout_seconds=timeout_seconds, interval_seconds=interval_seconds, clock=clock, sleep=sleep,
    )  # fmt: skip


def _wait_for(
    http: Http,
    headers: dict[str, str],
    wanted: int,
    requested: str,
    namespace: str,
    *,
    timeout_seconds: float,
    interval_seconds: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> RetentionResult:
    started = clock()
    seen_pending = False
    while True:
        state = read_ttl(http, headers)
        elapsed = clock() - started
        if state.hours == wanted:
            return RetentionResult(
                Outcome.DONE, state, f"trace retention {requested}; done after {elapsed:.0f} s: {state.describe()}"
            )
        seen_pending = seen_pending or state.status == "pending"
        # An old failure stays the newest row until SigNoz inserts this change's pending rows.
        if state.status == "failed" and seen_pending and state.expected == wanted:
            return RetentionResult(
                Outcome.FAILED,
                state,
                f"trace retention {requested}; SigNoz ran the ALTER and it failed ({state.describe()}): see the "
                f"signoz pod's log in {namespace} for 'Error in executing set TTL query'",
            )
        if elapsed >= timeout_seconds:
            return RetentionResult(
                Outcome.TIMEOUT,
                state,
                f"trace retention {requested}; not in ClickHouse after {elapsed:.0f} s ({state.describe()}).\n"
                f"{stuck_pending_help(namespace)}",
            )
        sleep(interval_seconds)
