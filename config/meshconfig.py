"""Check a `meshConfig` value against Istio's MeshConfig message of the pinned version.

istiod's chart passes `meshConfig` through untouched and istiod drops fields it does not know, so a
misspelt field would silently do nothing. The schema is the MeshConfig message of the released
`istio.io/api` module of each pinned Istio version (its `.proto` files, derived by `make facts` into
`versions/istio/<version>/facts/meshconfig.json`).
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from versions.chart_values import SchemaPath
from versions.table import ChartId, facts

_DURATION = re.compile(r"^-?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


def meshconfig_schema(istio_version: str) -> dict[str, Any]:
    return facts(ChartId.ISTIOD, istio_version, "meshconfig")


Found = list[tuple[SchemaPath, str]]


def problems(value: Any, istio_version: str, path: SchemaPath = ("meshConfig",)) -> Found:
    """(path, what is wrong) for every field or value the MeshConfig message does not accept; list
    indexes are ints (`versions.chart_values.shown` spells it `meshConfig.a[0].b`)."""
    schema = meshconfig_schema(istio_version)
    return _message(value, schema["root"], schema, path)


def _message(value: Any, name: str, schema: dict[str, Any], path: SchemaPath) -> Found:
    if not isinstance(value, dict):
        return [(path, f"must be an object ({name.rsplit('.', 1)[-1]})")]
    fields: dict[str, Any] = schema["messages"][name]
    by_proto_name = {spec["proto"]: key for key, spec in fields.items()}
    found: Found = []
    for key, item in value.items():
        known = str(key) if key in fields else by_proto_name.get(str(key))
        where = (*path, str(key))
        if known is None:
            close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.7)
            hint = f"; did you mean {close[0]}?" if close else ""
            found.append((where, f"not a field of {name.rsplit('.', 1)[-1]} (istio.io/api){hint}"))
            continue
        found += _field(item, fields[known], schema, where)
    return found


def _field(value: Any, spec: dict[str, Any], schema: dict[str, Any], path: SchemaPath) -> Found:
    if value is None:
        return []
    if spec["label"] == "repeated":
        if not isinstance(value, list):
            return [(path, "must be a list")]
        return [p for i, item in enumerate(value) for p in _single(item, spec["type"], schema, (*path, i))]
    if spec["label"] == "map":
        if not isinstance(value, dict):
            return [(path, "must be a map")]
        return [p for k, item in value.items() for p in _single(item, spec["type"], schema, (*path, str(k)))]
    return _single(value, spec["type"], schema, path)


def _single(value: Any, kind: str, schema: dict[str, Any], path: SchemaPath) -> Found:
    if kind.startswith("message:"):
        return _message(value, kind.removeprefix("message:"), schema, path)
    if kind.startswith("enum:"):
        allowed = schema["enums"][kind.removeprefix("enum:")]
        if value not in allowed and not (isinstance(value, int) and not isinstance(value, bool)):
            return [(path, f"got {value!r}; allowed: {', '.join(allowed)}")]
        return []
    checks = {
        "string": isinstance(value, str),
        "bool": isinstance(value, bool),
        "int": (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.isdigit()),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "duration": isinstance(value, str) and bool(_DURATION.match(value)),
        "free": True,
    }
    if not checks[kind]:
        shape = "a duration such as 10s or 1m30s" if kind == "duration" else f"a {kind}"
        return [(path, f"got {value!r}; must be {shape}")]
    return []
