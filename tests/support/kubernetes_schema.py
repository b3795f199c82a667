"""Kubernetes objects against the API schemas of each supported Kubernetes version.

The schemas are those `kubernetes-validate` ships (strict: unknown fields are errors). That library
re-reads a ~2 MB definitions file on every call, which is too slow for every object of every
rendered stack; here each (version, apiVersion, kind) validator is built once and reused.
"""

from __future__ import annotations

import functools
import json
import re
from importlib.resources import files
from typing import Any

import jsonschema
from referencing import Registry, Resource

from versions.table import all_kubernetes_versions

_SCHEMAS = files("kubernetes_validate") / "kubernetes-json-schema"


class NoSchemaError(LookupError):
    """The kind is not a built-in Kubernetes kind (a custom resource): check it against its CRD."""


def _read(path: str) -> Any:
    return json.loads((_SCHEMAS / path).read_text())


@functools.cache
def _registry(version: str) -> Registry:
    return Resource.from_contents(_read(f"v{version}-local-strict/_definitions.json")) @ Registry()


@functools.cache
def _validator(version: str, api_version: str, kind: str) -> jsonschema.protocols.Validator:
    # rbac.authorization.k8s.io/v1 → rbac-v1; v1 → v1
    short = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = _read(f"v{version}-local-strict/{kind.lower()}-{short}.json")
    except FileNotFoundError:
        raise NoSchemaError(f"no Kubernetes {version} schema for {api_version} {kind}") from None
    registry = Resource.from_contents(schema) @ _registry(version)
    validator: jsonschema.protocols.Validator = jsonschema.Draft202012Validator(schema, registry=registry)
    return validator


def has_schema(api_version: str, kind: str) -> bool:
    try:
        _validator(all_kubernetes_versions()[-1], api_version, kind)
    except NoSchemaError:
        return False
    return True


def errors(obj: dict[str, Any], version: str) -> list[tuple[str, str]]:
    """(path, message) of every schema error of `obj` for one Kubernetes version."""
    validator = _validator(version, str(obj.get("apiVersion")), str(obj.get("kind")))
    found = sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    return [(".".join(map(str, e.absolute_path)) or "<root>", e.message) for e in found]
