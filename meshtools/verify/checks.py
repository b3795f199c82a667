"""The verify checks, as pure functions over Kubernetes API objects (plain JSON dicts).

Each returns a Check saying pass or fail, what was seen, and the fix when it failed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from meshtools.verify.clickhouse import Arrival
from meshtools.verify.span import VERIFY_SERVICE

SIDECAR = "istio-proxy"
JSON = Mapping[str, Any]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail, "fix": self.fix}


def _get(node: Any, *path: str) -> Any:
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def istiod_ready(deployment: JSON | None, namespace: str) -> Check:
    name = "istiod ready"
    if deployment is None:
        return Check(name, False, f"no Deployment istiod in {namespace}", "run `make up` for this stack")
    ready = _get(deployment, "status", "readyReplicas") or 0
    wanted = _get(deployment, "spec", "replicas") or 1
    if ready < 1:
        return Check(name, False, f"0/{wanted} replicas ready", f"kubectl -n {namespace} describe deploy istiod")
    return Check(name, True, f"{ready}/{wanted} replicas ready")


def mesh_provider(configmap: JSON | None, provider: str, service: str, port: int) -> Check:
    name = "mesh config Zipkin provider"
    fix = "run `make up`; check istiod's `istio` ConfigMap (meshConfig is read only at the top level of the values)"
    if configmap is None:
        return Check(name, False, "no ConfigMap istio", fix)
    mesh = yaml.safe_load(_get(configmap, "data", "mesh") or "") or {}
    providers = {p.get("name"): p for p in mesh.get("extensionProviders") or [] if isinstance(p, Mapping)}
    zipkin = _get(providers.get(provider), "zipkin")
    if not isinstance(zipkin, Mapping):
        return Check(name, False, f"no zipkin provider {provider!r} in the live mesh config", fix)
    seen = f"{zipkin.get('service')}:{zipkin.get('port')}"
    if zipkin.get("service") != service or zipkin.get("port") != port:
        return Check(name, False, f"provider points at {seen}, expected {service}:{port}", fix)
    tracing = _get(mesh, "defaultProviders", "tracing") or []
    return Check(name, True, f"{provider} → {seen}; default tracing providers {tracing}")


def mesh_telemetry(telemetry: JSON | None, provider: str, sampling: float) -> Check:
    name = "mesh Telemetry"
    if telemetry is None:
        return Check(name, False, "no Telemetry mesh-default in the root namespace", "run `make up`")
    rules = _get(telemetry, "spec", "tracing") or []
    rule = rules[0] if rules else {}
    providers = [p.get("name") for p in rule.get("providers") or []]
    seen = rule.get("randomSamplingPercentage")
    shown = f"{seen:g}" if isinstance(seen, int | float) else str(seen)
    if provider not in providers or seen != sampling:
        return Check(
            name,
            False,
            f"providers {providers}, sampling {shown} %; expected {provider}, {sampling:g} %",
            "run `make up`",
        )
    return Check(name, True, f"provider {provider}, sampling {shown} %")


def peer_authentication(policy: JSON | None, mode: str) -> Check:
    name = "mesh PeerAuthentication"
    seen = _get(policy, "spec", "mtls", "mode") if policy else None
    if seen != mode:
        return Check(name, False, f"mode {seen}, expected {mode}", "run `make up`")
    return Check(name, True, f"mode {mode}")


def collector_service(service: JSON | None, slices: Iterable[JSON], port: int) -> Check:
    name = "collector Service"
    fix = "set otelCollector.ports.zipkin.enabled (make up) and check the collector pods"
    if service is None:
        return Check(name, False, "no collector Service", fix)
    ports = [p.get("port") for p in _get(service, "spec", "ports") or []]
    if port not in ports:
        return Check(name, False, f"Service exposes {ports}, not {port}", fix)
    ready = sum(
        1
        for s in slices
        if port in [p.get("port") for p in s.get("ports") or []]
        for e in s.get("endpoints") or []
        if _get(e, "conditions", "ready") is not False
    )
    if ready == 0:
        return Check(name, False, f"port {port} has no ready endpoints", "kubectl -n <signoz ns> get pods")
    return Check(name, True, f"port {port} with {ready} ready endpoint(s)")


def collector_config(configmap: JSON | None, receiver: str = "zipkin") -> Check:
    name = "collector traces pipeline"
    if configmap is None:
        return Check(name, False, "no collector ConfigMap", "run `make up`")
    for text in (_get(configmap, "data") or {}).values():
        config = yaml.safe_load(text) if isinstance(text, str) else None
        receivers = _get(config, "service", "pipelines", "traces", "receivers")
        if isinstance(receivers, list):
            if receiver in receivers:
                return Check(name, True, f"traces receivers {receivers}")
            return Check(name, False, f"traces receivers {receivers} lack {receiver}", "run `make up`")
    return Check(name, False, "no traces pipeline in the collector ConfigMap", "run `make up`")


def namespace_label(namespace: JSON | None, name: str, key: str, value: str) -> Check:
    check = f"namespace {name} injection label"
    if namespace is None:
        return Check(check, False, f"namespace {name} does not exist", "create it, or set adopt: false (make up)")
    seen = (_get(namespace, "metadata", "labels") or {}).get(key)
    if seen != value:
        return Check(check, False, f"{key}={seen}", "run `make up`")
    return Check(check, True, f"{key}={value}")


def has_sidecar(pod: JSON) -> bool:
    """Classic sidecar container, or native sidecar (an init container with restartPolicy Always)."""
    spec = pod.get("spec") or {}
    containers = [c.get("name") for c in spec.get("containers") or []]
    native = [c.get("name") for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    return SIDECAR in containers or SIDECAR in native


def workload_of(pod: JSON) -> tuple[str, str] | None:
    """(kind, name) of the controller that owns a pod; Deployments through their ReplicaSet's name."""
    owners = [o for o in _get(pod, "metadata", "ownerReferences") or [] if o.get("controller")]
    if not owners:
        return None
    kind, name = owners[0].get("kind"), owners[0].get("name")
    if kind == "ReplicaSet":
        template_hash = (_get(pod, "metadata", "labels") or {}).get("pod-template-hash")
        if template_hash and name.endswith(f"-{template_hash}"):
            return ("Deployment", name.removesuffix(f"-{template_hash}"))
        return None
    if kind in {"StatefulSet", "DaemonSet"}:
        return (kind, name)
    return None


def pods_without_sidecar(pods: Iterable[JSON]) -> dict[tuple[str, str], list[str]]:
    """Running pods lacking the sidecar, grouped by owning workload ((kind, name) → pod names)."""
    found: dict[tuple[str, str], list[str]] = {}
    for pod in pods:
        if _get(pod, "status", "phase") not in {"Running", "Pending"} or has_sidecar(pod):
            continue
        owner = workload_of(pod) or ("Pod", str(_get(pod, "metadata", "name")))
        found.setdefault(owner, []).append(str(_get(pod, "metadata", "name")))
    return found


def sidecars(namespace: str, pods: Iterable[JSON]) -> Check:
    name = f"namespace {namespace} sidecars"
    missing = pods_without_sidecar(pods)
    if not missing:
        return Check(name, True, "every running pod has istio-proxy")
    listed = ", ".join(f"{kind}/{workload} ({len(p)} pod(s))" for (kind, workload), p in sorted(missing.items()))
    return Check(name, False, f"without sidecar: {listed}", "make restart STACK=<stack> ARGS=--apply")


def round_trip(arrival: Arrival | None, expected: Mapping[str, str], timeout: float) -> Check:
    name = "span round trip"
    if arrival is None:
        return Check(
            name,
            False,
            f"the span did not reach ClickHouse within {timeout:g} s",
            "check the collector logs and the traces pipeline (exporters, memory_limiter refusals)",
        )
    wrong = {k: (arrival.resources.get(k), v) for k, v in expected.items() if arrival.resources.get(k) != v}
    if arrival.service != VERIFY_SERVICE or wrong:
        detail = f"arrived as service {arrival.service!r}; attributes seen/expected: {wrong}"
        return Check(name, False, detail, "check the collector's resource/mesh-tracing processor")
    return Check(name, True, f"arrived after {arrival.latency_seconds:.1f} s with {len(expected)} resource attributes")
