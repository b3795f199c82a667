"""`make manifests STACK=…`: every Kubernetes object the stack will create, as the cluster receives it.

`pulumi preview` of a Helm release shows only its inputs. Here each release of the desired state is
rendered by its pinned chart (values with secrets masked, release name and namespace, as an install)
and the objects the program registers directly are added, into one deterministic YAML stream sorted
by namespace, kind and name. `workload_changes` reads two such streams and says which workloads a
change restarts — a pod template that changes rolls every pod.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kube.resources import HELM_RELEASE_TYPE
from kube.tree import DESCEND, dig, rewrite
from meshtools import helm
from meshtools.charts import locate
from meshtools.cli import EXIT_OK, ToolError, run_command
from meshtools.desired import MASK, desired_state, to_yaml
from meshtools.recording import PROGRAM, run_stack
from meshtools.stacks import PROJECT_DIR
from versions.table import CHARTS, ChartId

# Kinds without a namespace; every other object Helm renders lands in the release namespace when
# its template leaves metadata.namespace out.
CLUSTER_SCOPED = frozenset(
    {
        "APIService",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "PersistentVolume",
        "PriorityClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
    }
)
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
# Objects the program registers itself (not through a chart), by type-token prefix.
_DIRECT = "kubernetes:"


@dataclass(frozen=True)
class Manifest:
    origin: str
    object: dict[str, Any]

    @property
    def key(self) -> tuple[str, str, str]:
        metadata = self.object.get("metadata") or {}
        return (str(metadata.get("namespace") or ""), str(self.object.get("kind")), str(metadata.get("name")))

    @property
    def title(self) -> str:
        namespace, kind, name = self.key
        return f"{kind} {namespace + '/' if namespace else ''}{name}"


@dataclass
class Manifests:
    objects: list[Manifest] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def chart_of(entry: Mapping[str, Any]) -> ChartId:
    """The version-table entry of a release in the desired state (an oci:// chart reference too)."""
    name = str(entry["release"]["chart"]).rsplit("/", 1)[-1]
    for chart_id, chart in CHARTS.items():
        if chart.name == name:
            return chart_id
    raise ToolError(f"chart {name} is not in the version table")


def _mask_secret_data(obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("kind") != "Secret":
        return obj
    masked = dict(obj)
    for key in ("data", "stringData"):
        if isinstance(obj.get(key), dict):
            masked[key] = dict.fromkeys(obj[key], MASK)
    return masked


def _condensed_crd(obj: dict[str, Any]) -> dict[str, Any]:
    """A CRD as its identity and a digest of its spec: the schemas are ~1 MB and change only with the
    chart version, which the digest still shows."""
    spec = obj.get("spec") or {}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": {"name": dig(obj, "metadata", "name")},
        "spec": {
            "group": spec.get("group"),
            "names": {"kind": dig(spec, "names", "kind")},
            "scope": spec.get("scope"),
            "versions": [v.get("name") for v in spec.get("versions") or []],
            "specSha256": digest,
        },
    }


# What a chart is given in place of a masked value: a plain word, so a template that writes the value
# unquoted (`password: {{ .Values.clickhouse.password }}`) still renders a string where the masked
# text `[secret]` would render a YAML list. After rendering it is masked again: a whole value becomes
# `[secret]`; inside a longer text (a config file a chart embeds in a ConfigMap) `'[secret]'`, the
# YAML string, so the embedded file keeps its types too.
MASK_STAND_IN = "maskedsecret0mesh0tracing"


def _for_chart(values: Any) -> Any:
    return rewrite(values, lambda node: MASK_STAND_IN if node == MASK else DESCEND)


def _masked_again(obj: Any) -> Any:
    def visit(node: Any) -> Any:
        if not isinstance(node, str) or MASK_STAND_IN not in node:
            return DESCEND
        return MASK if node == MASK_STAND_IN else node.replace(MASK_STAND_IN, f"'{MASK}'")

    return rewrite(obj, visit)


def _placed(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The object with the namespace Helm gives it when the template sets none."""
    if obj.get("kind") in CLUSTER_SCOPED or dig(obj, "metadata", "namespace"):
        return obj
    return {**obj, "metadata": {**(obj.get("metadata") or {}), "namespace": namespace}}


def stack_manifests(state: Mapping[str, Any], *, full_crds: bool = False) -> Manifests:
    """The objects of a desired state (`meshtools.desired.desired_state`, secrets already masked)."""
    result = Manifests()
    for resource_name, entry in sorted(state["resources"].items()):
        if entry["type"] == HELM_RELEASE_TYPE:
            release = entry["release"]
            source = locate(chart_of(entry), str(release["version"]))
            if source.note and source.note not in result.notes:
                result.notes.append(source.note)
            origin = f"release {release['name']} ({CHARTS[chart_of(entry)].name} {source.version})"
            values = _for_chart(entry["values"])
            for document in helm.render(source.path, values, release["name"], release["namespace"]):
                obj = _mask_secret_data(_placed(_masked_again(document.object), release["namespace"]))
                if obj.get("kind") == "CustomResourceDefinition" and not full_crds:
                    obj = _condensed_crd(obj)
                result.objects.append(Manifest(f"{origin}: {document.source}", obj))
        elif entry["type"].startswith(_DIRECT) and "inputs" in entry:
            obj = _mask_secret_data({k: v for k, v in entry["inputs"].items() if k != "compat"})
            kind = "patch of an existing object (server-side apply)" if entry["type"].endswith("Patch") else "object"
            result.objects.append(Manifest(f"{kind} registered by the program: {resource_name}", obj))
    result.objects.sort(key=lambda m: (*m.key, str(m.object.get("apiVersion")), m.origin))
    return result


def to_stream(manifests: Manifests) -> str:
    parts = [f"# note: {note}\n" for note in manifests.notes]
    for manifest in manifests.objects:
        body = to_yaml(manifest.object)
        parts.append(f"---\n# {manifest.origin}\n{body}")
    return "".join(parts)


# --------------------------------------------------------------------------- what a change restarts


def _referenced_configs(workload: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(kind, name) of every ConfigMap and Secret a workload's pods read (volumes, env, envFrom)."""
    pod = dig(workload, "spec", "template", "spec") or {}
    found: set[tuple[str, str]] = set()
    volumes = list(pod.get("volumes") or [])
    for volume in volumes:
        if dig(volume, "configMap", "name"):
            found.add(("ConfigMap", str(dig(volume, "configMap", "name"))))
        if dig(volume, "secret", "secretName"):
            found.add(("Secret", str(dig(volume, "secret", "secretName"))))
        for projected in dig(volume, "projected", "sources") or []:
            if dig(projected, "configMap", "name"):
                found.add(("ConfigMap", str(dig(projected, "configMap", "name"))))
    for container in [*(pod.get("containers") or []), *(pod.get("initContainers") or [])]:
        for source in container.get("envFrom") or []:
            if dig(source, "configMapRef", "name"):
                found.add(("ConfigMap", str(dig(source, "configMapRef", "name"))))
            if dig(source, "secretRef", "name"):
                found.add(("Secret", str(dig(source, "secretRef", "name"))))
        for variable in container.get("env") or []:
            if dig(variable, "valueFrom", "configMapKeyRef", "name"):
                found.add(("ConfigMap", str(dig(variable, "valueFrom", "configMapKeyRef", "name"))))
            if dig(variable, "valueFrom", "secretKeyRef", "name"):
                found.add(("Secret", str(dig(variable, "valueFrom", "secretKeyRef", "name"))))
    return found


def workload_changes(before: Iterable[Manifest], after: Iterable[Manifest]) -> list[str]:
    """One line per workload whose pods a change rolls, starts or stops, and per changed ConfigMap or
    Secret read by a workload that does not restart; or a line saying nothing restarts."""
    old = {m.key: m for m in before}
    new = {m.key: m for m in after}
    lines: list[str] = []
    restarted: set[tuple[str, str, str]] = set()
    for key in sorted(new.keys() | old.keys()):
        if key[1] not in WORKLOADS:
            continue
        if key not in old:
            lines.append(f"will start: {new[key].title}")
        elif key not in new:
            lines.append(f"will stop: {old[key].title}")
        elif dig(old[key].object, "spec", "template") != dig(new[key].object, "spec", "template"):
            lines.append(f"will restart: {new[key].title} (its pod template changes)")
            restarted.add(key)
    for key in sorted(new.keys() & old.keys()):
        namespace, kind, name = key
        if kind not in {"ConfigMap", "Secret"} or old[key].object == new[key].object:
            continue
        readers = [
            k
            for k in sorted(new)
            if k[1] in WORKLOADS and k[0] == namespace and (kind, name) in _referenced_configs(new[k].object)
        ]
        if any(k in restarted for k in readers):
            continue  # its readers roll and start with the new content
        read_by = f", read by {', '.join(new[k].title for k in readers)}" if readers else ""
        lines.append(
            f"changes without a restart: {new[key].title}{read_by} — applied where a process watches it "
            "(istiod watches its mesh ConfigMap), else at the next restart of the pods that read it"
        )
    if not any(line.startswith(("will restart", "will start", "will stop")) for line in lines):
        lines.insert(0, "no workload restarts")
    return lines


# --------------------------------------------------------------------------- command


def render(stack: str, stacks_dir: Path = PROJECT_DIR, program: Path = PROGRAM, *, full_crds: bool = False) -> str:
    run = run_stack(stack, stacks_dir=stacks_dir, program=program)
    return to_stream(stack_manifests(desired_state(stack, run), full_crds=full_crds))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make manifests", description=__doc__)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--stacks-dir", type=Path, default=PROJECT_DIR, help="where Pulumi.<stack>.yaml lives")
    parser.add_argument("--full-crds", action="store_true", help="print CRDs whole instead of name and digest")
    args = parser.parse_args(argv)
    sys.stdout.write(render(args.stack, args.stacks_dir.resolve(), full_crds=args.full_crds))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(run_command(main))
