"""The verify checks, as pure functions over Kubernetes API objects (plain JSON dicts).

Each returns a Check saying pass or fail, what was seen, and the fix when it failed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from kube.tree import dig
from meshtools.verify.clickhouse import Arrival
from meshtools.verify.span import VERIFY_SERVICE

SIDECAR = "istio-proxy"
INJECT_KEY = "sidecar.istio.io/inject"
# Namespaces istiod never injects, whatever their labels (Istio 1.30.3 pkg/kube/inject/initializer.go
# IgnoredNamespaces, from pkg/config/constants). istio-system is not one of them.
INJECTOR_IGNORED_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "local-path-storage")
JSON = Mapping[str, Any]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail, "fix": self.fix}


def istiod_ready(deployment: JSON | None, namespace: str) -> Check:
    name = "istiod ready"
    if deployment is None:
        return Check(name, False, f"no Deployment istiod in {namespace}", "run `make up` for this stack")
    ready = dig(deployment, "status", "readyReplicas") or 0
    wanted = dig(deployment, "spec", "replicas") or 1
    if ready < 1:
        return Check(name, False, f"0/{wanted} replicas ready", f"kubectl -n {namespace} describe deploy istiod")
    return Check(name, True, f"{ready}/{wanted} replicas ready")


def mesh_provider(configmap: JSON | None, provider: str, service: str, port: int) -> Check:
    name = "mesh config Zipkin provider"
    fix = "run `make up`; check istiod's `istio` ConfigMap (meshConfig is read only at the top level of the values)"
    if configmap is None:
        return Check(name, False, "no ConfigMap istio", fix)
    mesh = yaml.safe_load(dig(configmap, "data", "mesh") or "") or {}
    providers = {p.get("name"): p for p in mesh.get("extensionProviders") or [] if isinstance(p, Mapping)}
    zipkin = dig(providers.get(provider), "zipkin")
    if not isinstance(zipkin, Mapping):
        return Check(name, False, f"no zipkin provider {provider!r} in the live mesh config", fix)
    seen = f"{zipkin.get('service')}:{zipkin.get('port')}"
    if zipkin.get("service") != service or zipkin.get("port") != port:
        return Check(name, False, f"provider points at {seen}, expected {service}:{port}", fix)
    tracing = dig(mesh, "defaultProviders", "tracing") or []
    return Check(name, True, f"{provider} → {seen}; default tracing providers {tracing}")


def mesh_telemetry(telemetry: JSON | None, provider: str, sampling: float) -> Check:
    name = "mesh Telemetry"
    if telemetry is None:
        return Check(name, False, "no Telemetry mesh-default in the root namespace", "run `make up`")
    rules = dig(telemetry, "spec", "tracing") or []
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
    seen = dig(policy, "spec", "mtls", "mode") if policy else None
    if seen != mode:
        return Check(name, False, f"mode {seen}, expected {mode}", "run `make up`")
    return Check(name, True, f"mode {mode}")


def collector_service(
    service: JSON | None, slices: Iterable[JSON], port: int, name: str = "collector Service"
) -> Check:
    fix = "set otelCollector.ports.zipkin.enabled (make up) and check the collector pods"
    if service is None:
        return Check(name, False, "no collector Service", fix)
    ports = [p.get("port") for p in dig(service, "spec", "ports") or []]
    if port not in ports:
        return Check(name, False, f"Service exposes {ports}, not {port}", fix)
    ready = sum(
        1
        for s in slices
        if port in [p.get("port") for p in s.get("ports") or []]
        for e in s.get("endpoints") or []
        if dig(e, "conditions", "ready") is not False
    )
    if ready == 0:
        return Check(name, False, f"port {port} has no ready endpoints", "kubectl -n <signoz ns> get pods")
    return Check(name, True, f"port {port} with {ready} ready endpoint(s)")


def collector_config(
    configmap: JSON | None, receiver: str = "zipkin", name: str = "collector traces pipeline"
) -> Check:
    if configmap is None:
        return Check(name, False, "no collector ConfigMap", "run `make up`")
    for text in (dig(configmap, "data") or {}).values():
        config = yaml.safe_load(text) if isinstance(text, str) else None
        receivers = dig(config, "service", "pipelines", "traces", "receivers")
        if isinstance(receivers, list):
            if receiver in receivers:
                return Check(name, True, f"traces receivers {receivers}")
            return Check(name, False, f"traces receivers {receivers} lack {receiver}", "run `make up`")
    return Check(name, False, "no traces pipeline in the collector ConfigMap", "run `make up`")


def namespace_label(namespace: JSON | None, name: str, key: str, value: str) -> Check:
    check = f"namespace {name} injection label"
    if namespace is None:
        return Check(check, False, f"namespace {name} does not exist", "create it, or set adopt: false (make up)")
    seen = (dig(namespace, "metadata", "labels") or {}).get(key)
    if seen != value:
        return Check(check, False, f"{key}={seen}", "run `make up`")
    return Check(check, True, f"{key}={value}")


def has_sidecar(pod: JSON) -> bool:
    """Classic sidecar container, or native sidecar (an init container with restartPolicy Always)."""
    spec = pod.get("spec") or {}
    containers = [c.get("name") for c in spec.get("containers") or []]
    native = [c.get("name") for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    return SIDECAR in containers or SIDECAR in native


def injector_skips(pod: JSON) -> str | None:
    """Why istiod's injector leaves this pod without a sidecar whatever its namespace says, or None.

    The order and the rules are Istio's (pkg/kube/inject/inject.go `injectRequired`, 1.30.3):
    hostNetwork first, then the injector's ignored namespaces, then `sidecar.istio.io/inject`, read
    from the annotation and replaced by the label when the label is present ("the label is the new
    API; if both are present we prefer the label"). Only "true" and "false" count; any other value
    falls back to the default policy, which injects. A restart cannot add a sidecar to such a pod.
    """
    if dig(pod, "spec", "hostNetwork") is True:
        return "hostNetwork: true"
    namespace = dig(pod, "metadata", "namespace")
    if namespace in INJECTOR_IGNORED_NAMESPACES:
        return f"namespace {namespace}, which the injector ignores"
    labels = dig(pod, "metadata", "labels") or {}
    if INJECT_KEY in labels:
        source, value = "label", labels[INJECT_KEY]
    else:
        source, value = "annotation", (dig(pod, "metadata", "annotations") or {}).get(INJECT_KEY, "")
    return f'{INJECT_KEY}: "false" {source}' if value == "false" else None


def workload_of(pod: JSON) -> tuple[str, str] | None:
    """(kind, name) of the controller that owns a pod; Deployments through their ReplicaSet's name."""
    owners = [o for o in dig(pod, "metadata", "ownerReferences") or [] if o.get("controller")]
    if not owners:
        return None
    kind, name = owners[0].get("kind"), owners[0].get("name")
    if kind == "ReplicaSet":
        template_hash = (dig(pod, "metadata", "labels") or {}).get("pod-template-hash")
        if template_hash and name.endswith(f"-{template_hash}"):
            return ("Deployment", name.removesuffix(f"-{template_hash}"))
        return None
    if kind in {"StatefulSet", "DaemonSet"}:
        return (kind, name)
    return None


Workload = tuple[str, str]


@dataclass(frozen=True)
class SidecarSurvey:
    """Running pods without istio-proxy, by owning workload: those a restart would inject, and those
    the injector leaves alone (with the reason)."""

    missing: dict[Workload, list[str]]
    skipped: dict[Workload, tuple[str, list[str]]]


def survey_sidecars(pods: Iterable[JSON]) -> SidecarSurvey:
    missing: dict[Workload, list[str]] = {}
    skipped: dict[Workload, tuple[str, list[str]]] = {}
    for pod in pods:
        if dig(pod, "status", "phase") not in {"Running", "Pending"} or has_sidecar(pod):
            continue
        name = str(dig(pod, "metadata", "name"))
        owner = workload_of(pod) or ("Pod", name)
        reason = injector_skips(pod)
        if reason is None:
            missing.setdefault(owner, []).append(name)
        else:
            skipped.setdefault(owner, (reason, []))[1].append(name)
    return SidecarSurvey(missing, skipped)


def pods_without_sidecar(pods: Iterable[JSON]) -> dict[Workload, list[str]]:
    """Running pods lacking the sidecar that the injector would inject, grouped by owning workload."""
    return survey_sidecars(pods).missing


def describe_skipped(skipped: Mapping[Workload, tuple[str, list[str]]]) -> str:
    return ", ".join(f"{kind}/{name} ({reason})" for (kind, name), (reason, _) in sorted(skipped.items()))


def sidecars(namespace: str, pods: Iterable[JSON]) -> Check:
    name = f"namespace {namespace} sidecars"
    survey = survey_sidecars(pods)
    skipped = f"; left alone by the injector: {describe_skipped(survey.skipped)}" if survey.skipped else ""
    if not survey.missing:
        return Check(name, True, f"every running pod has istio-proxy{skipped}")
    listed = ", ".join(f"{kind}/{workload} ({len(p)} pod(s))" for (kind, workload), p in sorted(survey.missing.items()))
    return Check(name, False, f"without sidecar: {listed}{skipped}", "make restart STACK=<stack> ARGS=--apply")


# The injector writes the revision that injected a pod into this annotation ("default" when unrevisioned;
# istiod chart files/injection-template.yaml).
REVISION_ANNOTATION = "istio.io/rev"


def proxy_revision(pod: JSON) -> str | None:
    """The control plane revision whose injector gave this pod its proxy, or None without a sidecar."""
    if not has_sidecar(pod):
        return None
    return str((dig(pod, "metadata", "annotations") or {}).get(REVISION_ANNOTATION, "default"))


def survey_revisions(pods: Iterable[JSON], expected: str) -> dict[Workload, tuple[str, list[str]]]:
    """Running pods whose proxy comes from another revision than `expected`, by owning workload, with
    the revision they run."""
    found: dict[Workload, tuple[str, list[str]]] = {}
    for pod in pods:
        revision = proxy_revision(pod)
        if dig(pod, "status", "phase") not in {"Running", "Pending"} or revision in {None, expected}:
            continue
        name = str(dig(pod, "metadata", "name"))
        found.setdefault(workload_of(pod) or ("Pod", name), (str(revision), []))[1].append(name)
    return found


def proxy_revisions(namespace: str, pods: Iterable[JSON], expected: str, listed: Iterable[str]) -> Check:
    """Every proxy of the namespace runs the revision its label selects; a proxy on a revision the stack
    no longer lists is named as such (its control plane is gone or about to go)."""
    name = f"namespace {namespace} proxy revisions"
    behind = survey_revisions(pods, expected)
    if not behind:
        return Check(name, True, f"every proxy is on revision {expected}")
    known = set(listed)
    parts = []
    for (kind, workload), (revision, names) in sorted(behind.items()):
        gone = "" if revision in known else ", a revision the stack no longer lists"
        parts.append(f"{kind}/{workload} ({len(names)} pod(s) on {revision}{gone})")
    return Check(
        name,
        False,
        f"expected revision {expected}; " + ", ".join(parts),
        "make restart STACK=<stack> ARGS=--apply",
    )


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


def mesh_spans(
    rows: Iterable[JSON], environment: str, minutes: int, sampling_percent: float, sidecars_missing: bool
) -> Check:
    """Whether the mesh itself reports: sidecar spans of this environment arrived lately."""
    name = "sidecar spans"
    counts = {str(row.get("service")): int(row.get("spans") or 0) for row in rows}
    if counts:
        shown = ", ".join(f"{service} ({n})" for service, n in list(counts.items())[:5])
        more = f" and {len(counts) - 5} more" if len(counts) > 5 else ""
        return Check(
            name,
            True,
            f"{sum(counts.values())} span(s) from {len(counts)} service(s) in the last {minutes} min: {shown}{more}",
        )
    reasons = [
        "no requests reached meshed pods in that time (send some to a service in a traced namespace)",
        "pods without sidecars (see the sidecars check; make restart STACK=<stack> ARGS=--apply)",
        "sampling 0 % (samplingPercent or a namespace's override)",
    ]
    if sampling_percent == 0:
        reasons.insert(0, reasons.pop(2).replace("sampling 0 %", "samplingPercent is 0: nothing is sampled"))
    elif sidecars_missing:
        reasons.insert(0, reasons.pop(1).replace("pods without sidecars", "pods without sidecars, as found above"))
    return Check(
        name,
        False,
        f"no span from an Istio sidecar (component=proxy, istio.canonical_service) with environment={environment} "
        f"in the last {minutes} min",
        "likely causes: " + "; ".join(reasons),
    )
