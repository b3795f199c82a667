"""A tiny Kubernetes API server on loopback, so the real client code runs over real HTTP in tests.

Routes map (method, path) to a handler returning (status, body); every request is recorded.
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

Handler = Callable[["Request"], tuple[int, Any]]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased: HTTP header names are case-insensitive
    body: bytes


@dataclass
class FakeApiServer:
    routes: dict[tuple[str, str], Handler | tuple[int, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    def json(self, path: str, obj: Any, method: str = "GET") -> None:
        self.routes[(method, path)] = (200, obj)

    def handle(self, request: Request) -> tuple[int, bytes]:
        self.requests.append(request)
        route = self.routes.get((request.method, request.path))
        if route is None:
            status, body = 404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404}
        elif callable(route):
            status, body = route(request)
        else:
            status, body = route
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return status, data

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
            status, data = api.handle(request)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
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
