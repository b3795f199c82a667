"""The desired state of a stack: every resource the program registers, secrets masked leaf by leaf.

One description of a recorded run serves the offline plan, the rendered manifests and the golden
files. Component resources are left out (they group; their children carry the state).
"""

from __future__ import annotations

from typing import Any

import yaml

from kube.resources import COMPONENT_TYPE_PREFIX, HELM_RELEASE_TYPE
from kube.tree import DESCEND, rewrite
from meshtools.recording import Resource, Run

MASK = "[secret]"


def mask(value: Any, secrets: set[str]) -> Any:
    """`value` with every string that contains a known secret replaced by MASK."""

    def visit(node: Any) -> Any:
        if isinstance(node, str) and any(secret and secret in node for secret in secrets):
            return MASK
        return DESCEND

    return rewrite(value, visit)


def mask_all(value: Any) -> Any:
    """`value` with every scalar replaced by MASK, its mappings and lists kept: a masked object is
    still an object, a masked list still a list."""
    return rewrite(value, lambda node: DESCEND if isinstance(node, dict | list) else MASK)


def describe(resource: Resource, run: Run) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for key, value in sorted(resource.inputs.items()):
        masked = mask(value, run.secret_values)
        if key in resource.secret_inputs and masked == value:
            masked = mask_all(value)  # secret, but no known secret value inside: hide every value in it
        inputs[key] = masked
    entry: dict[str, Any] = {"type": resource.type, "parent": resource.parent_name}
    if resource.dependencies:
        entry["dependsOn"] = sorted(resource.dependency_names)
    if resource.protect:
        entry["protect"] = True
    if resource.type == HELM_RELEASE_TYPE:
        entry["release"] = {k: inputs.pop(k) for k in ("name", "namespace", "chart", "version") if k in inputs}
        entry["repository"] = inputs.pop("repositoryOpts", {}).get("repo")
        entry["values"] = inputs.pop("values", {})
        inputs.pop("compat", None)  # added by the SDK, constant
    if inputs:
        entry["inputs"] = inputs
    return entry


def desired_state(stack: str, run: Run) -> dict[str, Any]:
    resources = {
        r.name: describe(r, run)
        for r in sorted(run, key=lambda r: r.name)
        if not r.type.startswith(COMPONENT_TYPE_PREFIX)
    }
    outputs = {
        k: MASK if k in run.secret_outputs else mask(v, run.secret_values) for k, v in sorted(run.outputs.items())
    }
    return {"stack": stack, "resources": resources, "outputs": outputs}


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Safe YAML with multi-line strings as literal blocks, so a changed line of an embedded config
    file (a mesh config, a collector config) is one changed line of the diff."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value.strip("\n") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def to_yaml(document: Any) -> str:
    """Deterministic YAML (sorted keys) for the plan, the manifests and the golden files."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=True, default_flow_style=False, width=100, allow_unicode=True)
