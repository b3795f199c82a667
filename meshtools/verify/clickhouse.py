"""Find a trace in SigNoz's ClickHouse, polling until it arrives or a deadline passes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from config.problems import PROJECT
from kube.tree import dig

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


_ENVIRONMENT = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def mesh_spans_query(environment: str, minutes: int) -> str:
    """Spans Envoy sidecars reported lately, per service. Envoy tags its spans component=proxy; Istio
    adds istio.canonical_service (pilot/pkg/networking/core/tracing.go) and the mesh Telemetry the
    stack's `environment` tag; SigNoz files string tags in attributes_string. ts_bucket_start is the
    span start rounded down to 30 minutes (the table's first ORDER BY key), so it bounds the scan."""
    if not _ENVIRONMENT.match(environment):
        raise ValueError(f"not an environment name (DNS label): {environment!r}")
    if not 1 <= minutes <= 1440:
        raise ValueError(f"minutes must be from 1 to 1440, got {minutes}")
    return (
        "SELECT serviceName AS service, count() AS spans "
        f"FROM {TRACE_TABLE} "
        f"WHERE ts_bucket_start >= toUInt64(toUnixTimestamp(now() - toIntervalMinute({minutes}))) - 1800 "
        f"AND timestamp >= now() - toIntervalMinute({minutes}) "
        "AND attributes_string['component'] = 'proxy' "
        "AND mapContains(attributes_string, 'istio.canonical_service') "
        f"AND attributes_string['environment'] = '{environment}' "
        "GROUP BY service ORDER BY spans DESC, service FORMAT JSONEachRow"
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


# --------------------------------------------------------------------------- failures, told apart


class QueryError(Exception):
    """A non-200 answer to a query sent through the API server's service proxy."""

    def __init__(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.body, self.headers = status, body, {k.lower(): v for k, v in headers.items()}


@dataclass(frozen=True)
class UserAccess:
    """What the ClickHouseInstallation says about a user (chart: clickhouse-instance.yaml)."""

    password: str | None
    networks: list[str]


AUTHENTICATION_FAILED = 516  # also what ClickHouse answers for an address not allowed (AccessControl::authenticate)
ACCESS_DENIED = 497
MISSING_OBJECT = {60: "table", 81: "database"}  # UNKNOWN_TABLE, UNKNOWN_DATABASE: HTTP 404
_CODE = re.compile(rb"Code: (\d+)")
MIGRATOR_JOB = "signoz-telemetrystore-migrator"


def user_access(installation: Mapping[str, Any] | None, user: str) -> UserAccess | None:
    """`<user>/password` and `<user>/networks/ip` of the installation's users, as the chart writes them."""
    users = dig(installation, "spec", "configuration", "users")
    if not isinstance(users, Mapping):
        return None
    networks = users.get(f"{user}/networks/ip") or []
    password = users.get(f"{user}/password")
    return UserAccess(
        str(password) if password is not None else None, [networks] if isinstance(networks, str) else list(networks)
    )


def _api_server_status(failure: QueryError) -> Mapping[str, Any] | None:
    """The API server's own answer (a Status object), as opposed to one the backend gave."""
    if not failure.headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        document = json.loads(failure.body)
    except ValueError:
        return None
    return document if isinstance(document, Mapping) and document.get("kind") == "Status" else None


def proxy_failure(failure: QueryError, service: str, namespace: str) -> tuple[str, str] | None:
    """(detail, fix) when the API server itself refused or could not proxy the request."""
    status = _api_server_status(failure)
    if status is None:
        return None
    message = status.get("message", "")
    if failure.status == 403:
        return (
            f"the API server refused the service proxy to {service}: {message}",
            f"RBAC: your kube user needs `create` on services/proxy in {namespace} "
            f"(kubectl auth can-i create services/proxy -n {namespace})",
        )
    if failure.status == 404:
        return f"no Service {service} in {namespace}: {message}", "run `make up`; check the SigNoz release"
    if failure.status == 503 and "dial tcp" in message and ("timeout" in message or "timed out" in message):
        # The API server found an endpoint but its connection went unanswered: dropped on the way.
        return (
            f"the API server could not connect to {service}: {message}",
            "a NetworkPolicy may drop the API server's connections: list the addresses it connects to pods from "
            f"in {PROJECT}:security.networkPolicies.apiServerCidrs "
            "(docs/security.md#make-verify-under-the-policies)",
        )
    if failure.status == 503:
        return f"{service} has no ready endpoint: {message}", f"kubectl -n {namespace} get pods"
    return f"the API server answered {failure.status} proxying to {service}: {message}", "check the API server"


def explain_failure(
    failure: QueryError, *, user: str, password: str, access: UserAccess | None, service: str, namespace: str
) -> tuple[str, str]:
    """(detail, fix) for a failed ClickHouse query, telling apart Kubernetes RBAC, ClickHouse's
    authentication or network restriction (both 403/516 on the wire), a table SigNoz has not created
    yet (404/60), a missing grant and other errors."""
    refused = proxy_failure(failure, service, namespace)
    if refused is not None:
        return refused
    header = failure.headers.get("x-clickhouse-exception-code", "")
    found = _CODE.search(failure.body)
    code = int(header) if header.isdigit() else int(found.group(1)) if found else None
    first_line = failure.body.decode(errors="replace").strip().splitlines()[0][:200] if failure.body.strip() else ""
    seen = f"ClickHouse answered {failure.status} (code {code})"
    if code == AUTHENTICATION_FAILED:
        lift = (
            "list the address the API server (or its Konnectivity agent) connects to pods from — or 0.0.0.0/0 — "
            "in the SigNoz chart value clickhouse.allowedNetworkIps (Helm replaces the list: repeat the ranges to keep)"
        )
        if access is None or access.password is None:
            return (
                f"{seen}: user {user} refused — a wrong password or an address outside the user's allowed "
                "networks; ClickHouse answers both alike (its log says which)",
                f"check CLICKHOUSE_PASSWORD against the ClickHouseInstallation; if it matches, {lift}",
            )
        if access.password != password:
            return (
                f"{seen}: user {user} refused — the collector's CLICKHOUSE_PASSWORD differs from the "
                "ClickHouseInstallation's",
                "run `make up` (the chart writes both from the same value)",
            )
        return (
            f"{seen}: user {user} refused although its password matches: the API server's address is outside "
            f"the networks the chart lets {user} in from ({', '.join(access.networks) or 'none listed'})",
            lift,
        )
    if code in MISSING_OBJECT:
        return (
            f"{seen}: {MISSING_OBJECT[code]} missing — SigNoz's schema migration has not created it yet ({first_line})",
            f"on a first install, wait for Job {MIGRATOR_JOB} to complete (kubectl -n {namespace} get jobs); "
            "if it failed, its logs say why",
        )
    if code == ACCESS_DENIED:
        return f"{seen}: user {user} lacks a grant ({first_line})", "check the user's profile and grants in ClickHouse"
    return f"{seen}: {first_line}", f"check ClickHouse in {namespace} (kubectl -n {namespace} logs for the pod)"
