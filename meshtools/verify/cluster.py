"""The one module that talks to Kubernetes: raw API reads, service-proxy requests and patches.

Everything goes through the API server of the current (or named) kube context, so `verify` needs
no port-forward: the collector and ClickHouse are reached through service proxies.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.stream import portforward

from meshtools.cli import ToolError

JSON = dict[str, Any]
PLURALS = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}
# The REST resource of every kind a post-deploy check reads through the ClusterView.
RESOURCES = {
    **PLURALS,
    "ClickHouseInstallation": "clickhouseinstallations",
    "ConfigMap": "configmaps",
    "EndpointSlice": "endpointslices",
    "Ingress": "ingresses",
    "Namespace": "namespaces",
    "PeerAuthentication": "peerauthentications",
    "Pod": "pods",
    "Secret": "secrets",
    "Service": "services",
    "Telemetry": "telemetries",
}


class ClusterError(ToolError):
    """The cluster cannot be used at all: no kubeconfig, unknown context, unreachable, refused."""


class ApiRefusedError(ClusterError):
    """The API server answered one read with an error (RBAC 403, …): that read fails, not the cluster.
    verify turns it into the failing check's result; elsewhere it is a one-line error."""

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        super().__init__(f"{method} {path} answered {status}: {message}")
        self.method, self.path, self.status, self.message = method, path, status, message


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: dict[str, str]  # names lower-cased

    def text(self, limit: int = 300) -> str:
        return self.body[:limit].decode(errors="replace")


def status_message(body: bytes) -> str:
    """The message of a Kubernetes Status body, or the start of the body."""
    try:
        document = json.loads(body)
    except ValueError:
        return body[:300].decode(errors="replace")
    return str(document.get("message", "")) if isinstance(document, dict) else str(document)[:300]


class KubeCluster:
    def __init__(self, api: client.ApiClient, context: str) -> None:
        self.api = api
        self.context = context
        self._forward_lock = threading.Lock()
        self._forward_api: client.CoreV1Api | None = None

    @classmethod
    def connect(cls, context: str | None = None, kubeconfig: str | None = None) -> KubeCluster:
        configuration = client.Configuration()
        try:
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
            _, active = config.list_kube_config_contexts(config_file=kubeconfig)
        except ConfigException as error:
            if context is not None and "Expected object with name" in str(error):
                try:
                    names = [c["name"] for c in config.list_kube_config_contexts(config_file=kubeconfig)[0]]
                except ConfigException:
                    names = []
                raise ClusterError(f"no kube context {context!r}; available: {', '.join(names) or 'none'}") from error
            raise ClusterError(
                f"cannot load a kubeconfig ({error}); set KUBECONFIG to one, or pass ARGS=--kubeconfig=<file>"
            ) from error
        cluster = cls(client.ApiClient(configuration), context or (active or {}).get("name", "?"))
        status = cluster.request("GET", "/version").status  # fail fast, with a clear message
        if status in {401, 403}:
            raise ClusterError(f"the API server of context {cluster.context!r} refused the credentials ({status})")
        return cluster

    # ------------------------------------------------------------------ transport

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
        timeout: float = 30,
    ) -> Response:
        header_params = {"Accept": "application/json", **(headers or {})}
        if body is not None and "Content-Type" not in header_params:
            header_params["Content-Type"] = "application/json"
        serialized = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=list((query or {}).items()),
            header_params=header_params,
            body=body,
            auth_settings=["BearerToken"],
        )
        host = self.api.configuration.host
        try:
            response = self.api.call_api(*serialized, _request_timeout=timeout)
        except (urllib3.exceptions.HTTPError, ApiException, OSError) as error:
            raise ClusterError(f"cluster of context {self.context!r} at {host} is unreachable: {error}") from error
        data: bytes = response.read() or b""
        headers = {str(k).lower(): str(v) for k, v in (response.headers or {}).items()}
        return Response(response.status, data, headers)

    def get(self, path: str, query: dict[str, str] | None = None) -> JSON | None:
        """An object, or None when it does not exist."""
        response = self.request("GET", path, query=query)
        if response.status == 404:
            return None
        if response.status >= 400:
            raise ApiRefusedError("GET", path, response.status, status_message(response.body))
        result: JSON = json.loads(response.body)
        return result

    # ------------------------------------------------------------------ reads

    def namespace(self, name: str) -> JSON | None:
        return self.get(f"/api/v1/namespaces/{name}")

    def deployment(self, namespace: str, name: str) -> JSON | None:
        return self.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}")

    def workload(self, kind: str, namespace: str, name: str) -> JSON | None:
        """A Deployment, StatefulSet or DaemonSet."""
        return self.get(f"/apis/apps/v1/namespaces/{namespace}/{PLURALS[kind]}/{name}")

    def configmap(self, namespace: str, name: str) -> JSON | None:
        return self.get(f"/api/v1/namespaces/{namespace}/configmaps/{name}")

    def service(self, namespace: str, name: str) -> JSON | None:
        return self.get(f"/api/v1/namespaces/{namespace}/services/{name}")

    def endpoint_slices(self, namespace: str, service: str) -> list[JSON]:
        found = self.get(
            f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
            {"labelSelector": f"kubernetes.io/service-name={service}"},
        )
        return list((found or {}).get("items", []))

    def custom(self, group: str, version: str, namespace: str, plural: str, name: str) -> JSON | None:
        return self.get(f"/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}")

    def pods(self, namespace: str, selector: Mapping[str, str] | None = None) -> list[JSON]:
        query = {"labelSelector": ",".join(f"{k}={v}" for k, v in sorted(selector.items()))} if selector else None
        return list((self.get(f"/api/v1/namespaces/{namespace}/pods", query) or {}).get("items", []))

    def secret_value(self, namespace: str, name: str, key: str) -> str | None:
        secret = self.get(f"/api/v1/namespaces/{namespace}/secrets/{name}")
        encoded = ((secret or {}).get("data") or {}).get(key)
        return base64.b64decode(encoded).decode() if encoded else None

    def container_env(self, namespace: str, deployment: str, variable: str) -> str | None:
        """A literal env value of a Deployment's first container (the chart writes ClickHouse
        credentials into the collector's env in plain text), or the Secret it references."""
        found = self.deployment(namespace, deployment)
        containers = (((found or {}).get("spec") or {}).get("template") or {}).get("spec", {}).get("containers", [])
        for env in containers[0].get("env", []) if containers else []:
            if env.get("name") != variable:
                continue
            if "value" in env:
                return str(env["value"])
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                return self.secret_value(namespace, ref["name"], ref["key"])
        return None

    # ------------------------------------------------------------------ writes and proxies

    def proxy(
        self,
        method: str,
        namespace: str,
        service: str,
        port: int,
        path: str,
        *,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> Response:
        """A request to a Service through the API server's service proxy (which passes the backend's
        status, headers and body through)."""
        target = f"/api/v1/namespaces/{namespace}/services/{quote(service)}:{port}/proxy/{path.lstrip('/')}"
        return self.request(method, target, query=query, headers=headers, body=body)

    def pod_proxy(self, method: str, namespace: str, pod: str, port: int, path: str) -> Response:
        """A request to one pod's port through the API server's pod proxy (a node-local Service
        cannot say which pod answers)."""
        return self.request(method, f"/api/v1/namespaces/{namespace}/pods/{quote(pod)}:{port}/proxy/{path.lstrip('/')}")

    def port_forward(self, namespace: str, pod: str, port: int) -> tuple[Any, Callable[[], str | None]]:
        """A stream to the pod's port through the API's port-forward (websocket, v4.channel.k8s.io),
        and a function that closes it and returns the error the kubelet reported, if any.

        The client swaps `call_api` on its ApiClient during the handshake, so port-forwards use a
        client of their own, one handshake at a time (connections arrive on several threads)."""
        with self._forward_lock:
            if self._forward_api is None:
                self._forward_api = client.CoreV1Api(client.ApiClient(self.api.configuration))
            try:
                forward = portforward(
                    self._forward_api.connect_get_namespaced_pod_portforward, pod, namespace, ports=str(port)
                )
            except (ApiException, OSError, urllib3.exceptions.HTTPError) as error:
                reason = getattr(error, "reason", None) or str(error)
                raise ClusterError(f"port-forward to pod {namespace}/{pod}:{port} refused: {reason}") from error
        stream = forward.socket(port)
        stream.setblocking(True)

        def finish() -> str | None:
            forward.close()
            error: str | None = forward.error(port)
            return error

        return stream, finish

    def patch_workload(self, kind: str, namespace: str, name: str, patch: JSON) -> int:
        path = f"/apis/apps/v1/namespaces/{namespace}/{PLURALS[kind]}/{name}"
        response = self.request(
            "PATCH", path, headers={"Content-Type": "application/strategic-merge-patch+json"}, body=patch
        )
        if response.status >= 400:
            raise ApiRefusedError("PATCH", path, response.status, status_message(response.body))
        return response.status


def collection_path(api_version: str, kind: str, namespace: str) -> str:
    """The REST path of a kind's objects in a namespace ("" for a cluster-scoped kind)."""
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    return f"{root}{f'/namespaces/{namespace}' if namespace else ''}/{RESOURCES[kind]}"


class LiveView:
    """The ClusterView (meshtools/clusterview.py) of a live cluster: the objects as the API server
    returns them, status included. A refused read raises ApiRefusedError, which fails that check."""

    runtime = True

    def __init__(self, cluster: KubeCluster) -> None:
        self.cluster = cluster

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> JSON | None:
        return self.cluster.get(f"{collection_path(api_version, kind, namespace)}/{name}")

    def list(
        self, api_version: str, kind: str, namespace: str, selector: Mapping[str, str] | None = None
    ) -> list[Mapping[str, Any]]:
        query = {"labelSelector": ",".join(f"{k}={v}" for k, v in sorted(selector.items()))} if selector else None
        items = (self.cluster.get(collection_path(api_version, kind, namespace), query) or {}).get("items", [])
        # The API server leaves kind and apiVersion off a list's items; the rules read them as a
        # rendered object (and ObjectsView) carries them.
        return [{"apiVersion": api_version, "kind": kind, **item} for item in items]
