"""What the post-deploy tools make of pods: whether they carry a sidecar, why the injector skipped
them, the workload that owns them, the revision their proxy came from. Pure functions over
Kubernetes API objects (plain JSON dicts), read by the data-path checks (meshtools/datapath.py) and
by `make restart`; nothing here imports a Kubernetes client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kube.tree import dig

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
