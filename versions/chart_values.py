"""Which value paths a pinned chart version has, from its facts (`versions/<family>/<version>/facts/`).

Helm accepts any value and a chart silently ignores the ones its templates never read, so a
misspelt or misplaced value does nothing at all. One rule decides whether a path is the chart's,
used alike when a stack's `extraValues` are read (config/extra_values.py) and by the conformance
tests over everything the program sets: the path is in the chart's default values, or it lies
below a map the chart leaves open (`podAnnotations: {}`), a list (Helm replaces lists whole), or a
key whose value is a Kubernetes object or string map the chart renders as given (`resources`, a
security context, annotations, labels, a node selector), whose fields the API server checks.

Paths are tuples of keys: a key may itself hold dots (`example.com/owner`). The facts spell paths
with dots, so a path is compared by its keys joined with dots.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from versions.table import ChartId, facts, upstream_version

ValuePath = tuple[str, ...]

# Keys whose value a chart renders with toYaml as a Kubernetes object or a string map: their
# defaults show a part of the object or sample entries only, so any key below a known one goes.
OBJECT_KEY = re.compile(r"^(resources|\w*[sS]ecurity_?[cC]ontext|\w*[aA]nnotations|\w*[lL]abels|\w*node_?[sS]elector)$")


def dotted(path: Sequence[str]) -> str:
    """A path as the facts spell it."""
    return ".".join(path)


def value_paths(values: Mapping[str, Any], prefix: ValuePath = ()) -> Iterator[ValuePath]:
    """Every path set in `values`, outermost first; lists are leaves (Helm replaces them whole)."""
    for key, value in values.items():
        path = (*prefix, str(key))
        yield path
        if isinstance(value, Mapping):
            yield from value_paths(value, path)


def under(path: Sequence[str | int], root: Sequence[str | int]) -> bool:
    """Whether `path` is `root` or below it."""
    return tuple(path[: len(root)]) == tuple(root)


@dataclass(frozen=True)
class ChartValues:
    """The value paths of one chart version's default values (subcharts under their name)."""

    chart: ChartId
    version: str
    paths: frozenset[str]
    # Open maps and lists: any key below them is the user's.
    open: frozenset[str]

    @property
    def label(self) -> str:
        """`istiod 1.31.4 (facts of 1.31.0-rc.0)`: the version named, and the release its facts are of."""
        source = upstream_version(self.chart, self.version)
        return f"{self.chart.value} {self.version}" + (f" (facts of {source})" if source != self.version else "")

    def has(self, path: ValuePath) -> bool:
        return dotted(path) in self.paths

    def opens(self, path: ValuePath) -> bool:
        """Whether any key below `path` is accepted: an open map or list, or a known object key."""
        text = dotted(path)
        return text in self.open or (text in self.paths and bool(OBJECT_KEY.match(path[-1])))

    def suggestion(self, path: ValuePath) -> str | None:
        """The path probably meant: the same path without a misplaced prefix, else a close spelling."""
        for start in range(1, len(path)):
            tail = dotted(path[start:])
            if tail in self.paths:
                return tail
        close = difflib.get_close_matches(dotted(path), sorted(self.paths), n=1, cutoff=0.8)
        return close[0] if close else None


@functools.cache
def chart_values(chart: ChartId, version: str) -> ChartValues:
    found = facts(chart, version)
    return ChartValues(
        chart=chart,
        version=version,
        paths=frozenset(found["paths"]),
        open=frozenset(found["open_maps"]) | frozenset(found["lists"]),
    )


def _never(path: ValuePath) -> bool:
    return False


def unknown_paths(
    values: Mapping[str, Any], chart: ChartValues, skip: Callable[[ValuePath], bool] = _never
) -> list[ValuePath]:
    """The outermost paths of `values` the chart does not have (nothing below one is reported again).
    `skip` names subtrees another check covers (istiod's free-form `meshConfig`)."""
    found: list[ValuePath] = []

    def walk(node: Mapping[str, Any], prefix: ValuePath) -> None:
        for key, value in node.items():
            path = (*prefix, str(key))
            if skip(path):
                continue
            if not chart.has(path):
                found.append(path)
            elif isinstance(value, Mapping) and not chart.opens(path):
                walk(value, path)

    walk(values, ())
    return found


SchemaPath = tuple[str | int, ...]


def shown(path: SchemaPath) -> str:
    """`spec.tracing[0].providers`, `podAnnotations["example.com/owner"]`: keys joined with dots, list
    indexes and keys that hold dots in brackets (as the owned tables and problems spell paths)."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif "." in part:
            text += f'["{part}"]'
        else:
            text += f".{part}" if text else part
    return text


def undeclared(
    schema: Mapping[str, Any], node: Any, prefix: SchemaPath = ()
) -> Iterator[tuple[SchemaPath, str | None]]:
    """Fields of `node` an OpenAPI schema does not declare (Kubernetes would prune them), each with
    the closest declared name."""
    if isinstance(node, list):
        items = schema.get("items", {})
        for index, item in enumerate(node):
            yield from undeclared(items, item, (*prefix, index))
        return
    if not isinstance(node, Mapping) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    properties = schema.get("properties")
    if properties is None:
        return  # a map (additionalProperties) or an untyped object
    for key, value in node.items():
        path = (*prefix, str(key))
        if key not in properties:
            close = difflib.get_close_matches(str(key), list(properties), n=1, cutoff=0.7)
            yield path, close[0] if close else None
        else:
            yield from undeclared(properties[key], value, path)
