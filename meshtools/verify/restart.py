"""Rolling restarts that move running workloads into the mesh, as `kubectl rollout restart` does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
RESTARTABLE = ("Deployment", "StatefulSet", "DaemonSet")


def restart_patch(now: datetime) -> dict[str, Any]:
    """A strategic-merge patch bumping the pod template annotation, which rolls every pod."""
    return {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now.isoformat(timespec="seconds")}}}}}
