"""A tiny Kubernetes API server on loopback, so the real client code runs over real HTTP in tests.

It stores objects and answers GET (one object, or a list filtered by an equality labelSelector)
and strategic-merge PATCH the way the API server does; routes map (method, path) to a handler for
everything else (service proxies). Every request is recorded.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import socket
import struct
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
    "Secret": "secrets",
    "Ingress": "ingresses",
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
    # (namespace, pod, port) -> the loopback address standing in for the pod's port
    pod_ports: dict[tuple[str, str, int], tuple[str, int]] = field(default_factory=dict)
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
        # As the real API server does, a list's items carry no kind or apiVersion.
        found = [
            {key: value for key, value in obj.items() if key not in ("kind", "apiVersion")}
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


# --------------------------------------------------------------------------- pod port-forward
# The API server's websocket port-forward as the kubelet speaks it (kubelet
# pkg/kubelet/cri/streaming/portforward/websocket.go; the Python client offers v5 and v4 and gets
# v4.channel.k8s.io): channel 2i carries port i's data and 2i+1 its errors; each channel's first
# frame is the port number (uint16, little-endian); data frames are [channel] + bytes; the server
# closes the websocket when the pod's side closes. RFC 6455 framing: client frames are masked.
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PORT_FORWARD = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/portforward$")


def ws_frame(payload: bytes, opcode: int = 2) -> bytes:
    size = len(payload)
    if size < 126:
        header = bytes([0x80 | opcode, size])
    elif size < 65536:
        header = bytes([0x80 | opcode, 126]) + struct.pack("!H", size)
    else:
        header = bytes([0x80 | opcode, 127]) + struct.pack("!Q", size)
    return header + payload


def ws_read(stream: Any) -> tuple[int, bytes]:
    def exactly(n: int) -> bytes:
        data = stream.read(n)
        if len(data) < n:
            raise EOFError
        return bytes(data)

    first, second = exactly(2)
    size = second & 0x7F
    if size == 126:
        size = struct.unpack("!H", exactly(2))[0]
    elif size == 127:
        size = struct.unpack("!Q", exactly(8))[0]
    mask = exactly(4) if second & 0x80 else b"\0\0\0\0"
    return first & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(exactly(size)))


@contextmanager
def serve(api: FakeApiServer) -> Iterator[FakeApiServer]:
    class _Handler(BaseHTTPRequestHandler):
        def _port_forward(self, backend: tuple[str, int], port: int) -> None:
            key = self.headers["Sec-WebSocket-Key"]
            accept = base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest()).decode()
            self.wfile.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + f"Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n".encode()
            )
            lock = threading.Lock()

            def send(frame: bytes) -> None:
                with lock, contextlib.suppress(OSError):
                    self.wfile.write(frame)

            prefix = struct.pack("<H", port)
            send(ws_frame(b"\x00" + prefix))
            send(ws_frame(b"\x01" + prefix))
            try:
                pod = socket.create_connection(backend)
            except OSError as error:  # the kubelet reports it on the error channel
                send(ws_frame(b"\x01" + f"error forwarding port {port} to pod: {error}".encode()))
                send(ws_frame(b"", opcode=8))
                return

            def from_pod() -> None:
                with contextlib.suppress(OSError):
                    while chunk := pod.recv(65536):
                        send(ws_frame(b"\x00" + chunk))
                send(ws_frame(struct.pack("!H", 1000), opcode=8))

            thread = threading.Thread(target=from_pod, daemon=True)
            thread.start()
            with contextlib.suppress(EOFError, OSError):
                while True:
                    opcode, payload = ws_read(self.rfile)
                    if opcode == 8:
                        break
                    if opcode == 2 and payload[:1] == b"\x00":
                        pod.sendall(payload[1:])
            with contextlib.suppress(OSError):
                pod.shutdown(socket.SHUT_RDWR)
            pod.close()
            thread.join(timeout=2)
            self.close_connection = True

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
            forward = PORT_FORWARD.match(parts.path)
            if forward and request.headers.get("upgrade", "").lower() == "websocket":
                port = int(request.query.get("ports", "0"))
                backend = api.pod_ports.get((forward.group(1), forward.group(2), port))
                if backend is not None:
                    api.requests.append(request)
                    self._port_forward(backend, port)
                    return
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
