"""Reading objects back from a cluster by what a manifest says: API discovery turned into paths.

`make manifests` names objects by apiVersion, kind, namespace and name; the API server serves them
under `/api/v1` or `/apis/<group>/<version>`, by plural resource name. Discovery (`/api`, `/apis`
and each group version's resource list) gives that mapping, including for custom resources whose
CRDs the same run installed.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Resource:
    api_version: str  # "v1" or "group/version"
    kind: str
    plural: str
    namespaced: bool

    def path(self, name: str, namespace: str = "") -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        scope = f"/namespaces/{namespace}" if self.namespaced else ""
        return f"{base}{scope}/{self.plural}/{name}"


def group_versions(core: Mapping[str, Any], groups: Mapping[str, Any]) -> list[str]:
    """Every served group version, from `/api` and `/apis`."""
    served = list(core.get("versions") or [])
    for group in groups.get("groups") or []:
        served += [str(v["groupVersion"]) for v in group.get("versions") or []]
    return served


def resources(group_version: str, resource_list: Mapping[str, Any]) -> list[Resource]:
    """The top-level resources (not subresources like `pods/status`) of one group version."""
    return [
        Resource(group_version, str(r["kind"]), str(r["name"]), bool(r.get("namespaced")))
        for r in resource_list.get("resources") or []
        if "/" not in str(r["name"])
    ]


def discover(get: Callable[[str], Mapping[str, Any]]) -> dict[tuple[str, str], Resource]:
    """(apiVersion, kind) → Resource for everything the API server serves now."""
    found: dict[tuple[str, str], Resource] = {}
    for group_version in group_versions(get("/api"), get("/apis")):
        path = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
        for resource in resources(group_version, get(path)):
            found[resource.api_version, resource.kind] = resource
    return found


def identity(obj: Mapping[str, Any]) -> tuple[str, str, str, str]:
    metadata = obj.get("metadata") or {}
    return (str(obj["apiVersion"]), str(obj["kind"]), str(metadata.get("namespace") or ""), str(metadata["name"]))


def missing_objects(
    wanted: Iterable[Mapping[str, Any]],
    served: Mapping[tuple[str, str], Resource],
    get: Callable[[str], Mapping[str, Any]],
) -> list[str]:
    """One line per wanted object the cluster does not answer (its kind unserved, or not found)."""
    problems = []
    for obj in wanted:
        api_version, kind, namespace, name = identity(obj)
        resource = served.get((api_version, kind))
        title = f"{kind} {namespace + '/' if namespace else ''}{name} ({api_version})"
        if resource is None:
            problems.append(f"{title}: the API server serves no {api_version} {kind}")
        elif not get(resource.path(name, namespace)):
            problems.append(f"{title}: not found")
    return problems


def helm_release_record(secret: Mapping[str, Any]) -> dict[str, Any]:
    """The release Helm stores in a `sh.helm.release.v1.<name>.v<revision>` Secret: base64 of
    gzipped JSON inside the Secret's base64 `data.release`."""
    encoded = base64.b64decode(secret["data"]["release"])
    record: dict[str, Any] = json.loads(gzip.decompress(base64.b64decode(encoded)))
    return record
