"""Realistic Kubernetes API objects for a deployed stack, shaped as the charts render them."""

from __future__ import annotations

from typing import Any

import yaml

from components import naming
from components.collector_config import collector_config
from components.istio_mesh import istiod_values, mesh_telemetry_spec, peer_authentication_spec
from components.models import StackSettings

JSON = dict[str, Any]


def deployment(name: str, namespace: str, ready: int, env: list[JSON] | None = None) -> JSON:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "main", "env": env or []}]}}},
        "status": {"replicas": 1, "readyReplicas": ready} if ready else {"replicas": 1},
    }


def istio_configmap(settings: StackSettings) -> JSON:
    """The `istio` ConfigMap: the chart's base mesh document merged with meshConfig, rendered by toYaml."""
    mesh = {"defaultConfig": {"discoveryAddress": "istiod.istio-system.svc:15012"}, "trustDomain": "cluster.local"}
    mesh |= istiod_values(settings)["meshConfig"]
    mesh["rootNamespace"] = settings.istio.namespace
    return {
        "metadata": {"name": "istio", "namespace": settings.istio.namespace},
        "data": {"mesh": yaml.safe_dump(mesh)},
    }


def telemetry(settings: StackSettings) -> JSON:
    return {"metadata": {"name": "mesh-default"}, "spec": mesh_telemetry_spec(settings)}


def peer_authentication(settings: StackSettings) -> JSON:
    return {"metadata": {"name": "default"}, "spec": peer_authentication_spec(settings.mtls_mode)}


def collector_service(zipkin: bool = True) -> JSON:
    ports = [{"name": "otlp", "port": 4317, "protocol": "TCP", "targetPort": 4317}]
    if zipkin:
        ports.append({"name": "zipkin", "port": 9411, "protocol": "TCP", "targetPort": 9411})
    return {"metadata": {"name": naming.collector_service_name()}, "spec": {"type": "ClusterIP", "ports": ports}}


def endpoint_slice(ready: bool = True) -> JSON:
    return {
        "metadata": {"labels": {"kubernetes.io/service-name": naming.collector_service_name()}},
        "endpoints": [{"addresses": ["10.0.0.7"], "conditions": {"ready": ready}}],
        "ports": [{"name": "zipkin", "port": 9411, "protocol": "TCP"}],
    }


def collector_configmap(settings: StackSettings) -> JSON:
    overlay = collector_config(settings)
    return {"data": {"otel-collector-config.yaml": yaml.safe_dump({"service": overlay["service"]})}}


def namespace(name: str, labels: dict[str, str]) -> JSON:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def pod(name: str, owner_kind: str, owner: str, sidecar: bool, *, native: bool = False, phase: str = "Running") -> JSON:
    containers = [{"name": "app"}]
    init: list[JSON] = []
    if sidecar and native:
        init.append({"name": "istio-proxy", "restartPolicy": "Always"})
    elif sidecar:
        containers.append({"name": "istio-proxy"})
    labels = {"app": owner}
    if owner_kind == "ReplicaSet":
        labels["pod-template-hash"] = owner.rsplit("-", 1)[-1]
    return {
        "metadata": {
            "name": name,
            "labels": labels,
            "ownerReferences": [{"kind": owner_kind, "name": owner, "controller": True}],
        },
        "spec": {"containers": containers, "initContainers": init},
        "status": {"phase": phase},
    }
