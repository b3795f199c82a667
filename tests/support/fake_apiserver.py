"""A tiny Kubernetes API server on loopback, so the real client code runs over real HTTP in tests.

It stores objects and answers GET (one object, or a list filtered by an equality labelSelector)
and strategic-merge PATCH the way the API server does; routes map (method, path) to a handler for
everything else (service proxies). Every request is recorded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

JSON = dict[str, Any]
# A handler answers (status, body) or (status, body, headers); a dict or list body is sent as JSON.
Reply = tuple[int, Any] | tuple[int, Any, dict[str, str]]
Handler = Callable[["Request"], Reply]

PLURALS = {
    "ConfigMap": "configmaps",
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets",
    "Service": "services",
    "EndpointSlice": "endpointslices",
    "Pod": "pods",
    "Namespace": "namespaces",
    "Telemetry": "telemetries",
    "PeerAuthentication": "peerauthentications",
    "ClickHouseInstallation": "clickhouseinstallations",
}
CLUSTER_SCOPED = {"Namespace"}


def collection_path(api_version: str, kind: str, namespace: str | None) -> str:
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    scope = f"/namespaces/{namespace}" if namespace and kind not in CLUSTER_SCOPED else ""
    return f"{root}{scope}/{PLURALS[kind]}"


def object_path(obj: JSON) -> str:
    metadata = obj["metadata"]
    return f"{collection_path(obj['apiVersion'], obj['kind'], metadata.get('namespace'))}/{metadata['name']}"


def not_found(path: str) -> JSON:
    """The Status the API server answers for a missing object (`<resource>.<group> "<name>" not found`)."""
    parts = path.strip("/").split("/")
    resource, name = (parts[-2], parts[-1]) if len(parts) >= 2 else ("", "")
    group = parts[1] if parts[0] == "apis" else ""
    qualified = f"{resource}.{group}" if group else resource
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'{qualified} "{name}" not found',
        "reason": "NotFound",
        "details": {"name": name, "group": group, "kind": resource},
        "code": 404,
    }


def strategic_merge(target: JSON, patch: JSON) -> JSON:
    """Maps merge key by key (enough for the annotation patches the tools send)."""
    merged = dict(target)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = strategic_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased: HTTP header names are case-insensitive
    body: bytes


@dataclass
class FakeApiServer:
    routes: dict[tuple[str, str], Handler | Reply] = field(default_factory=dict)
    objects: dict[str, JSON] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    def json(self, path: str, obj: Any, method: str = "GET") -> None:
        self.routes[(method, path)] = (200, obj)

    def add(self, *objects: JSON) -> None:
        for obj in objects:
            self.objects[object_path(obj)] = obj

    def remove(self, path: str) -> None:
        del self.objects[path]

    def _collection(self, request: Request) -> JSON | None:
        """A list, as the API server answers for any known resource (empty when nothing matches)."""
        if request.path.rsplit("/", 1)[-1] not in PLURALS.values():
            return None
        selector = dict(term.split("=", 1) for term in request.query.get("labelSelector", "").split(",") if "=" in term)
        prefix = request.path + "/"
        found = [
            obj
            for path, obj in self.objects.items()
            if path.startswith(prefix)
            and "/" not in path[len(prefix) :]
            and all((obj["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items())
        ]
        return {"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": found}

    def _stored(self, request: Request) -> Reply | None:
        if request.method == "GET":
            if request.path in self.objects:
                return 200, self.objects[request.path]
            listed = self._collection(request)
            return (200, listed) if listed is not None else None
        if request.method == "PATCH" and request.path in self.objects:
            # The API server applies a restart patch to any Deployment, paused or not; it is kubectl
            # that refuses paused ones (kubectl pkg/polymorphichelpers/objectrestarter.go), and the
            # deployment controller does not roll a paused Deployment until it is resumed.
            assert request.headers["content-type"] == "application/strategic-merge-patch+json"
            self.objects[request.path] = strategic_merge(self.objects[request.path], json.loads(request.body))
            return 200, self.objects[request.path]
        return None

    def handle(self, request: Request) -> tuple[int, bytes, dict[str, str]]:
        self.requests.append(request)
        route = self.routes.get((request.method, request.path))
        reply: Reply | None = route(request) if callable(route) else route
        if reply is None:
            reply = self._stored(request)
        if reply is None:
            reply = 404, not_found(request.path)
        status, body, headers = reply if len(reply) == 3 else (*reply, {})
        if isinstance(body, bytes):
            return status, body, {"Content-Type": "text/plain; charset=utf-8", **headers}
        return status, json.dumps(body).encode(), {"Content-Type": "application/json", **headers}

    def kubeconfig(self, directory: Path, context: str = "fake") -> Path:
        path = directory / "kubeconfig"
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "c", "cluster": {"server": self.url}}],
                    "users": [{"name": "u", "user": {"token": "test-token"}}],
                    "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}],
                    "current-context": context,
                }
            )
        )
        return path


@contextmanager
def serve(api: FakeApiServer) -> Iterator[FakeApiServer]:
    class _Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(
                self.command,
                parts.path,
                dict(parse_qsl(parts.query)),
                {name.lower(): value for name, value in self.headers.items()},
                self.rfile.read(length),
            )
            status, data, headers = api.handle(request)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _serve  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
