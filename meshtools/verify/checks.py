"""What the post-deploy tools make of pods (sidecars, revisions, owning workloads), and the results_ of
the checks that send a span; pure functions over Kubernetes API objects (plain JSON dicts). The checks
a ClusterView answers are in meshtools/datapath.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kube.tree import dig
from meshtools.postdeploy import Result
from meshtools.verify.clickhouse import Arrival
from meshtools.verify.span import VERIFY_SERVICE

SIDECAR = "istio-proxy"
INJECT_KEY = "sidecar.istio.io/inject"
# Namespaces istiod never injects, whatever their labels (Istio 1.30.3 pkg/kube/inject/initializer.go
# IgnoredNamespaces, from pkg/config/constants). istio-system is not one of them.
INJECTOR_IGNORED_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "local-path-storage")
JSON = Mapping[str, Any]


def restart_hint(stack: str) -> str:
    """The command that gives pods their sidecar (or their namespace's revision), for the stack verified."""
    return f"make restart STACK={stack} ARGS=--apply"


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


def round_trip(arrival: Arrival | None, expected: Mapping[str, str], timeout: float) -> Result:
    if arrival is None:
        return Result(
            False,
            f"the span did not reach ClickHouse within {timeout:g} s",
            "check the collector logs and the traces pipeline (exporters, memory_limiter refusals)",
        )
    wrong = {k: (arrival.resources.get(k), v) for k, v in expected.items() if arrival.resources.get(k) != v}
    if arrival.service != VERIFY_SERVICE or wrong:
        detail = f"arrived as service {arrival.service!r}; attributes seen/expected: {wrong}"
        return Result(False, detail, "check the collector's resource/mesh-tracing processor")
    return Result(True, f"arrived after {arrival.latency_seconds:.1f} s with {len(expected)} resource attributes")


def mesh_spans(
    rows: Iterable[JSON], environment: str, minutes: int, sampling_percent: float, *, sidecars_missing: bool, stack: str
) -> Result:
    """Whether the mesh itself reports: sidecar spans of this environment arrived lately."""
    counts = {str(row.get("service")): int(row.get("spans") or 0) for row in rows}
    if counts:
        shown = ", ".join(f"{service} ({n})" for service, n in list(counts.items())[:5])
        more = f" and {len(counts) - 5} more" if len(counts) > 5 else ""
        return Result(
            True,
            f"{sum(counts.values())} span(s) from {len(counts)} service(s) in the last {minutes} min: {shown}{more}",
        )
    reasons = [
        "no requests reached meshed pods in that time (send some to a service in a traced namespace)",
        f"pods without sidecars (see the sidecars check; {restart_hint(stack)})",
        "sampling 0 % (samplingPercent or a namespace's override)",
    ]
    if sampling_percent == 0:
        reasons.insert(0, reasons.pop(2).replace("sampling 0 %", "samplingPercent is 0: nothing is sampled"))
    elif sidecars_missing:
        reasons.insert(0, reasons.pop(1).replace("pods without sidecars", "pods without sidecars, as found above"))
    return Result(
        False,
        f"no span from an Istio sidecar (component=proxy, istio.canonical_service) with environment={environment} "
        f"in the last {minutes} min",
        "likely causes: " + "; ".join(reasons),
    )
