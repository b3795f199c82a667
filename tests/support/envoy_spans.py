"""Zipkin v2 JSON spans shaped as an Istio sidecar's Envoy reports them to the collector.

The shape follows Envoy's Zipkin tracer (envoyproxy/envoy, source/extensions/tracers/zipkin/:
`span_buffer.cc` JsonV2Serializer, `zipkin_core_constants.h`): a JSON array POSTed to
`/api/v2/spans`; 128-bit trace ids (Istio turns `trace_id_128bit` on) and 64-bit span ids in hex;
`timestamp` and `duration` in microseconds; `kind` CLIENT for the outbound span and SERVER for the
inbound one (here the child of the caller's span, with its own id and `parentId`; Envoy adds
`shared: true` only to a span that joined its caller's context); `localEndpoint` with the proxy's
ipv4, port and serviceName (`<app>.<namespace>` under Istio); and `tags`, all strings.

The tag names are those Envoy's HTTP connection manager sets on every span
(`source/common/tracing/common_values.h`, Tracing::Tags): component, node_id, guid:x-request-id,
http.url, http.method, http.protocol, user_agent, downstream_cluster, request_size,
response_size, response_flags, http.status_code, upstream_cluster, upstream_cluster.name,
upstream_address, peer.address; plus the Istio Telemetry `customTags` the program sets (a tag's
name is its map key: `environment` and `cluster` as literals, and each stack's extras).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Span attribute keys the stack's credential scrub must delete (a header custom tag, an app's own
# tags) and near misses it must keep.
CREDENTIAL_TAGS = {
    "authorization": "Bearer eyJhbGciOi.test.token",
    "request.header.cookie": "session=abc123",
    "x-api-key": "key-123",
    "db.password": "hunter2",
}
NEAR_MISS_TAGS = {"cookie_consent": "granted", "author": "jane"}


@dataclass(frozen=True)
class Hop:
    """One request through the mesh: the caller's outbound (CLIENT) span and the callee's inbound
    (SERVER) span, which Envoy reports from the two sidecars."""

    trace_id: str
    client_service: str  # "<app>.<namespace>" of the caller's sidecar
    server_service: str
    host: str  # the callee's Service host


def new_hop(client_service: str, server_service: str) -> Hop:
    namespace = server_service.split(".", 1)[1]
    app = server_service.split(".", 1)[0]
    return Hop(secrets.token_hex(16), client_service, server_service, f"{app}.{namespace}.svc.cluster.local")


def _envoy_tags(hop: Hop, *, inbound: bool, custom: Mapping[str, str]) -> dict[str, str]:
    app, namespace = hop.server_service.split(".", 1)
    direction = "inbound" if inbound else "outbound"
    tags = {
        "component": "proxy",
        "node_id": f"sidecar~10.0.0.{7 if inbound else 5}~{app}-v1-5d8f9.{namespace}~{namespace}.svc.cluster.local",
        "guid:x-request-id": "6f1e5a52-3b0e-9f0c-8a41-2f6c2b0c9f11",
        "http.url": f"http://{hop.host}:9080/reviews/0",
        "http.method": "GET",
        "http.protocol": "HTTP/1.1",
        "user_agent": "python-requests/2.32.3",
        "downstream_cluster": "-",
        "request_size": "0",
        "response_size": "295",
        "response_flags": "-",
        "http.status_code": "200",
        "upstream_cluster": f"{direction}|9080||{hop.host}" if not inbound else "inbound|9080||",
        "upstream_cluster.name": f"{direction}|9080||{hop.host}" if not inbound else "inbound|9080||",
        "upstream_address": "10.0.0.7:9080",
        "peer.address": "10.0.0.5" if inbound else "10.0.0.7",
    }
    return tags | dict(custom)


def hop_spans(hop: Hop, custom_tags: Mapping[str, str], *, start_us: int) -> list[dict[str, Any]]:
    """The two spans of a hop: the caller's CLIENT span (the root here) and the callee's SERVER span,
    its child."""
    span_id = secrets.token_hex(8)
    name = f"{hop.host}:9080/*"
    client = {
        "traceId": hop.trace_id,
        "id": span_id,
        "kind": "CLIENT",
        "name": name,
        "timestamp": start_us,
        "duration": 4210,
        "localEndpoint": {"serviceName": hop.client_service, "ipv4": "10.0.0.5", "port": 0},
        "tags": _envoy_tags(hop, inbound=False, custom=custom_tags),
    }
    server = {
        "traceId": hop.trace_id,
        "parentId": span_id,
        "id": secrets.token_hex(8),
        "kind": "SERVER",
        "name": name,
        "timestamp": start_us + 350,
        "duration": 3390,
        "localEndpoint": {"serviceName": hop.server_service, "ipv4": "10.0.0.7", "port": 0},
        "tags": _envoy_tags(hop, inbound=True, custom=custom_tags),
    }
    return [client, server]


def body(spans: list[dict[str, Any]]) -> bytes:
    """The request body Envoy POSTs (Content-Type application/json)."""
    return json.dumps(spans).encode()
