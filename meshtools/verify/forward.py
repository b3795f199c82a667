"""`make open`: SigNoz's UI and Kiali on localhost through the Kubernetes API's pod port-forward.

Pure parts (which pod, which URL, how to log in) and the local relay: a listener per Service that
hands every accepted connection to a fresh port-forward stream (the API's port-forward carries one
TCP stream per websocket) and pumps bytes both ways. The streams come from cluster.py through the
`connect` callable, so this module never talks to Kubernetes itself.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from config.kiali import AnonymousAuth, TokenAuth
from config.stack import StackSettings
from kube.tree import dig
from meshtools.cli import UsageError

JSON = Mapping[str, Any]


@dataclass(frozen=True)
class Target:
    """One Service to open: where it lives, and where it appears on this machine."""

    title: str
    namespace: str
    service: str
    port: int
    local_port: int
    path: str = "/"

    @property
    def url(self) -> str:
        return f"http://localhost:{self.local_port}{self.path}"


def ready_pod(service: JSON | None, slices: Iterable[JSON], port: int) -> tuple[str, int] | None:
    """(pod name, container port) of a ready, not terminating endpoint behind the Service's `port`.

    EndpointSlices name their ports after the Service's and carry the *target* port number; an
    endpoint's `ready` is true when unset (discovery.k8s.io/v1)."""
    ports = [p for p in dig(service, "spec", "ports") or [] if p.get("port") == port]
    if not ports:
        return None
    name = ports[0].get("name")
    for endpoint_slice in slices:
        target = next((p.get("port") for p in endpoint_slice.get("ports") or [] if p.get("name") == name), None)
        if target is None:
            continue
        for endpoint in endpoint_slice.get("endpoints") or []:
            conditions = endpoint.get("conditions") or {}
            ref = endpoint.get("targetRef") or {}
            if conditions.get("ready") is not False and not conditions.get("terminating") and ref.get("kind") == "Pod":
                return str(ref.get("name")), int(target)
    return None


def kiali_login(settings: StackSettings, target: Target) -> str:
    """How to get past Kiali's login page with the stack's auth strategy."""
    auth = settings.kiali.auth
    if isinstance(auth, AnonymousAuth):
        return "no login (auth strategy anonymous)"
    if isinstance(auth, TokenAuth):
        return (
            "paste a bearer token of a ServiceAccount allowed to view the mesh; Kiali then acts with its RBAC. "
            f"`kubectl -n {target.namespace} create token kiali` prints a short-lived read-only one (the chart binds "
            "ServiceAccount kiali to ClusterRole kiali-viewer); the same without kubectl: a TokenRequest on "
            f"serviceaccounts/kiali/token in {target.namespace}"
        )
    openid = auth.openid
    return (
        f"Kiali sends you to {openid.issuer_uri} (client {openid.client_id}); that provider must accept "
        f"the redirect URI {target.url}, "
        "or set Kiali's server.web_fqdn to the address it knows"
    )


class Stream(Protocol):
    """A connected stream to the pod's port (a port-forward socket)."""

    def sendall(self, data: bytes, /) -> None: ...
    def recv(self, size: int, /) -> bytes: ...
    def close(self) -> None: ...


# target -> (stream, close it and return the error the API server reported, if any)
Connect = Callable[[Target], tuple[Stream, Callable[[], str | None]]]


def listen(target: Target, host: str = "127.0.0.1") -> socket.socket:
    """Bind the local port now, so a port in use is reported before anything is forwarded."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind((host, target.local_port))
    except OSError as error:
        listener.close()
        if error.errno == errno.EADDRINUSE:
            flag = "--signoz-port" if target.title == "SigNoz" else "--kiali-port"
            raise UsageError(
                f"port {target.local_port} on {host} is in use (another port-forward?); "
                f'choose another with ARGS="{flag} <port>"'
            ) from None
        raise UsageError(f"cannot listen on {host}:{target.local_port}: {error.strerror}") from None
    listener.listen(16)
    return listener


@dataclass
class Relay:
    """Accept local connections for each target and relay them through `connect` until stopped."""

    connect: Connect
    report: Callable[[str], None]
    listeners: dict[Target, socket.socket] = field(default_factory=dict)
    _open: set[Any] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for target, listener in self.listeners.items():
            self._spawn(self._accept, target, listener)

    def stop(self) -> None:
        for listener in self.listeners.values():
            with contextlib.suppress(OSError):  # wakes the accept() blocked in another thread (Linux)
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            for item in list(self._open):
                item.close()
        for thread in self._threads:
            thread.join(timeout=2)

    def _spawn(self, run: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=run, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self, target: Target, listener: socket.socket) -> None:
        while True:
            try:
                local, _ = listener.accept()
            except OSError:  # closed by stop()
                return
            self._spawn(self._serve, target, local)

    def _serve(self, target: Target, local: socket.socket) -> None:
        try:
            remote, finish = self.connect(target)
        except Exception as error:  # one failed connection must not end the others
            self.report(f"{target.title}: cannot forward a connection: {error}")
            local.close()
            return
        with self._lock:
            self._open.update({local, remote})
        done = threading.Event()
        self._spawn(self._pump, remote, local, done)
        self._pump(local, remote, done)
        done.wait(timeout=30)
        reported = finish()
        local.close()
        with self._lock:
            self._open.difference_update({local, remote})
        if reported:
            self.report(f"{target.title}: {reported.strip()}")

    @staticmethod
    def _pump(source: Any, sink: Any, done: threading.Event) -> None:
        """Copy until either side ends, then close both (port-forward streams cannot half-close)."""
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.close()
            done.set()
