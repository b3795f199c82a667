"""A read-only view of a cluster's objects: what the post-deploy checks read, live or rendered.

The checks (meshtools/datapath.py) are written against the `ClusterView` Protocol, so one rule runs
alike on a live cluster (`make verify`, through `meshtools/verify/cluster.py`, the only module that
imports the Kubernetes client) and on the objects a stack renders (`ObjectsView` here, over
`meshtools.manifests`' stream, in the tests). Nothing here imports a Kubernetes client: the runtime
tier can import it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

JSON = Mapping[str, Any]


class ClusterView(Protocol):
    """Objects by apiVersion and kind; `namespace` is "" for cluster-scoped kinds (Namespace)."""

    @property
    def runtime(self) -> bool:
        """Whether the objects are a running cluster's: with status, pods and endpoints. A rendered
        stack has none of them, so a rule that needs them says nothing there."""
        ...

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> JSON | None:
        """One object, or None when it does not exist."""
        ...

    def list(
        self, api_version: str, kind: str, namespace: str, selector: Mapping[str, str] | None = None
    ) -> list[JSON]:
        """The objects of a kind in a namespace whose labels hold every key=value of `selector`."""
        ...


def selects(selector: Mapping[str, str] | None, labels: Mapping[str, Any] | None) -> bool:
    """An equality label selector's match, as the API server's `labelSelector=k=v,…` filters."""
    return all((labels or {}).get(key) == value for key, value in (selector or {}).items())


class ObjectsView:
    """The view of a list of objects: a rendered stack (no status, no pods, no endpoints), or with
    `runtime` a running cluster's objects as the API server returned them (the tests' cluster data)."""

    def __init__(self, objects: Iterable[JSON], *, runtime: bool = False) -> None:
        self.runtime = runtime
        self._objects: dict[tuple[str, str, str, str], JSON] = {}
        for obj in objects:
            metadata = obj.get("metadata") or {}
            key = (str(obj.get("apiVersion")), str(obj.get("kind")), str(metadata.get("namespace") or ""))
            self._objects[(*key, str(metadata.get("name")))] = obj

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> JSON | None:
        return self._objects.get((api_version, kind, namespace, name))

    def list(
        self, api_version: str, kind: str, namespace: str, selector: Mapping[str, str] | None = None
    ) -> list[JSON]:
        return [
            obj
            for (version, found, ns, _), obj in self._objects.items()
            if (version, found, ns) == (api_version, kind, namespace)
            and selects(selector, (obj.get("metadata") or {}).get("labels"))
        ]
