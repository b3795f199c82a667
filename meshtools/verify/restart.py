"""Rolling restarts that move running workloads into the mesh, as `kubectl rollout restart` does.

kubectl (pkg/polymorphichelpers/objectrestarter.go, v0.36) restarts Deployments, StatefulSets and
DaemonSets by setting the pod template annotation `kubectl.kubernetes.io/restartedAt` to
`time.Now().Format(time.RFC3339)`, and refuses a paused Deployment with "can't restart paused
deployment (run rollout resume first)": the API server would accept the patch, but the Deployment
controller rolls nothing until the Deployment is resumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kube.tree import dig

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
RESTARTABLE = ("Deployment", "StatefulSet", "DaemonSet")


def kubectl_timestamp(now: datetime) -> str:
    """`now` as Go's time.RFC3339 writes it: whole seconds, the machine's local offset, `Z` for a
    zero offset (never `+00:00`, which Python's isoformat writes)."""
    if now.tzinfo is None:
        raise ValueError("a restart time needs a time zone (kubectl writes the local one)")
    offset = now.utcoffset() or timedelta(0)
    if offset == timedelta(0):
        zone = "Z"
    else:
        minutes = int(offset.total_seconds()) // 60
        sign = "+" if minutes > 0 else "-"
        zone = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return now.strftime("%Y-%m-%dT%H:%M:%S") + zone


def restart_patch(now: datetime) -> dict[str, Any]:
    """A strategic-merge patch bumping the pod template annotation, which rolls every pod."""
    return {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: kubectl_timestamp(now)}}}}}


@dataclass(frozen=True)
class Refusal:
    """Why a workload is not patched, and what to do about it."""

    reason: str
    fix: str


def refusal(kind: str, namespace: str, name: str, workload: dict[str, Any] | None, now: datetime) -> Refusal | None:
    """What stops `kubectl rollout restart` for this workload (as it lives now), or None."""
    if workload is None:
        return Refusal(f"{kind}/{name} no longer exists", "nothing to restart; its pods go with it")
    if kind == "Deployment" and dig(workload, "spec", "paused") is True:
        return Refusal(
            f"Deployment/{name} is paused: not restarted (kubectl: can't restart paused deployment)",
            f"kubectl -n {namespace} rollout resume deployment/{name}, then run again",
        )
    annotations = dig(workload, "spec", "template", "metadata", "annotations") or {}
    if annotations.get(RESTARTED_AT) == kubectl_timestamp(now):
        return Refusal(
            f"{kind}/{name} was restarted within the past second (the patch would change nothing)",
            "run again in a second",
        )
    return None
