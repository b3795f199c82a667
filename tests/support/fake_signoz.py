"""SigNoz v0.131.0's trace retention API, with the store and the background work behind it.

Every behaviour below is SigNoz's at v0.131.0 (SigNoz/signoz, tag v0.131.0); the file each comes
from is named where it is modelled. Time is steps: each request is answered first, then the
background work takes one step, as if the goroutines ran between two requests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# setTTLTraces (pkg/query-service/app/clickhouseReader/reader.go): seven tables, named distributed
# in the pending check, written local (getLocalTableName strips `distributed_`) into ttl_setting.
TRACE_TABLES = (
    "signoz_index_v3",
    "traces_v3_resource",
    "signoz_error_index_v2",
    "usage_explorer",
    "dependency_graph_minutes_v2",
    "trace_summary",
    "span_attributes_keys",
)
# GetTTL reads the status of the first six (not span_attributes_keys).
STATUS_TABLES = TRACE_TABLES[:6]
DEFAULT_TTL_SECONDS = 1_296_000  # the schema migrator's 15 days


def local(table: str) -> str:
    return f"signoz_traces.{table}"


def distributed(table: str) -> str:
    return f"signoz_traces.distributed_{table}"


@dataclass
class FakeSigNoz:
    """Call it as the tools' Http: (method, path, query, headers) -> (status, body)."""

    keys: dict[str, str] = field(default_factory=lambda: {"admin-key": "ADMIN", "viewer-key": "VIEWER"})
    table_ttl: dict[str, int] = field(default_factory=lambda: {local(t): DEFAULT_TTL_SECONDS for t in TRACE_TABLES})
    rows: list[dict[str, Any]] = field(default_factory=list)  # the SQL store's ttl_setting table
    work: list[Callable[[], None]] = field(default_factory=list)  # goroutines' next steps
    alter_fails: bool = False
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    # ------------------------------------------------------------------ the store

    def newest(self, table: str) -> dict[str, Any] | None:
        """checkTTLStatusItem: the newest row for a table name (ORDER BY created_at DESC LIMIT 1)."""
        found = [r for r in self.rows if r["table_name"] == table]
        return found[-1] if found else None

    def add_row(self, table: str, ttl: int, status: str) -> None:
        self.rows.append({"table_name": table, "ttl": ttl, "cold_storage_ttl": -1, "status": status})

    def restart(self) -> None:
        """The signoz pod restarts: goroutines die; nothing resumes their rows (SigNoz/signoz#1831)."""
        self.work.clear()

    def settle(self) -> None:
        while self.work:
            self.work.pop(0)()

    # ------------------------------------------------------------------ HTTP

    def __call__(self, method: str, path: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, Any]:
        assert path == "/api/v1/settings/ttl"
        self.calls.append((method, dict(query)))
        try:
            return self._answer(method, query, {k.lower(): v for k, v in headers.items()})
        finally:
            if self.work:
                self.work.pop(0)()

    def _answer(self, method: str, query: dict[str, str], headers: dict[str, str]) -> tuple[int, Any]:
        # pkg/identn (API key header SIGNOZ-API-KEY) and pkg/http/middleware/authz.go: POST needs the
        # admin role (AdminAccess), GET any role (ViewAccess); render.Error bodies.
        role = self.keys.get(headers.get("signoz-api-key", ""))
        if role is None:
            return 401, {"status": "error", "error": {"code": "unauthenticated", "message": "unauthenticated"}}
        if method == "POST" and role != "ADMIN":
            return 403, {
                "status": "error",
                "error": {"code": "authz_forbidden", "message": "only admins can access this resource"},
            }
        if query.get("type") != "traces":
            return 400, {"status": "error", "error": {"code": "bad_data", "message": "type param should be traces"}}
        return self._post(query) if method == "POST" else self._get()

    def _get(self) -> tuple[int, Any]:
        # GetTTL: hours from ClickHouse's engine_full; status from getTTLQueryStatus (first pending
        # wins — its one-hour cut-off is always true —, else any failed, else success, also with no
        # rows); expected_* from the newest signoz_index_v3 row, omitted (omitempty) when 0.
        statuses = [(self.newest(local(t)) or {}).get("status") for t in STATUS_TABLES]
        status = "pending" if "pending" in statuses else "failed" if "failed" in statuses else "success"
        body: dict[str, Any] = {
            "traces_ttl_duration_hrs": self.table_ttl[local("signoz_index_v3")] // 3600,
            "traces_move_ttl_duration_hrs": -1,
            "status": status,
        }
        newest = self.newest(local("signoz_index_v3"))
        if newest:
            body |= {
                "expected_traces_ttl_duration_hrs": newest["ttl"] // 3600,
                "expected_traces_move_ttl_duration_hrs": -1,
            }
        return 200, body

    def _post(self, query: dict[str, str]) -> tuple[int, Any]:
        # parseTTLParams (pkg/query-service/app/parser.go): Go durations only, e.g. 168h (not 7d).
        duration = query.get("duration", "")
        if not duration.endswith("h") or not duration[:-1].isdigit() or int(duration[:-1]) <= 0:
            return 400, {
                "status": "error",
                "error": {"code": "bad_data", "message": f"not a valid TTL duration {duration}"},
            }
        seconds = int(duration[:-1]) * 3600
        # The pending check looks up the distributed names (the bug: SigNoz's own rows never match).
        if any((self.newest(distributed(t)) or {}).get("status") == "pending" for t in TRACE_TABLES):
            # HandleError via http.Error: text/plain, the JSON envelope as text.
            return (
                409,
                '{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":409,"msg":"TTL is already running"}]}',
            )

        def insert() -> None:  # step (a) of every goroutine: a pending row per local table name
            for table in TRACE_TABLES:
                self.add_row(local(table), seconds, "pending")

        def alter() -> None:  # steps (c)-(d): ALTER TABLE … MODIFY TTL, then success or failed
            for table in TRACE_TABLES:
                if not self.alter_fails:
                    self.table_ttl[local(table)] = seconds
                row = self.newest(local(table))
                assert row is not None
                row["status"] = "failed" if self.alter_fails else "success"

        # The answer leaves when the goroutines have only been started: the first step shows nothing.
        self.work.extend([lambda: None, insert, alter])
        return 200, {"message": "move ttl has been successfully set up"}  # sent before any of it runs
