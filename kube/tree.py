"""Helpers over JSON-like trees (dicts, lists, scalars): rewrite one, read a path in one, merge two.

Helm values, custom-resource specs, API objects and policy inputs are all such trees; the program,
the tools and the policy pack share these so each walk is written once. `dig` reads through the
abstract `Mapping` and `Sequence`: the policy SDK hands inputs over in read-only proxies that are
neither dict nor list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

DESCEND: Any = object()
"""What a `rewrite` visitor returns to leave a node as it is and rewrite its children."""


def rewrite(value: Any, visit: Callable[[Any], Any]) -> Any:
    """A copy of `value` where each node is replaced by `visit(node)`, top down; where the visitor
    returns DESCEND, mappings and lists are rebuilt from their rewritten children."""
    replaced = visit(value)
    if replaced is not DESCEND:
        return replaced
    if isinstance(value, Mapping):
        return {key: rewrite(item, visit) for key, item in value.items()}
    if isinstance(value, list):
        return [rewrite(item, visit) for item in value]
    return value


def _is_list(node: Any) -> bool:
    return isinstance(node, Sequence) and not isinstance(node, str | bytes)


def dig(node: Any, *path: str | int) -> Any:
    """The value at `path` (mapping keys and list indexes), or None where the path does not exist."""
    for key in path:
        if isinstance(node, Mapping) and isinstance(key, str):
            node = node.get(key)
        elif _is_list(node) and isinstance(key, int) and -len(node) <= key < len(node):
            node = node[key]
        else:
            return None
    return node


def merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `extra` laid over it: mappings merge key by key, anything else in `extra` replaces
    (lists too, as Helm replaces them)."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged
