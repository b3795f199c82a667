"""Config problems: what is wrong, under which key, with which value, and what is allowed.

A `SettingsError` is a `pulumi.RunError`, so `pulumi up`/`preview` print the problem list and stop
without a Python traceback; the project's own commands print the same list and exit 2.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pulumi

PROJECT = "mesh-tracing"


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


def show(value: object) -> str:
    """A value as a stack file would spell it, cut short: errors quote values, never whole sections."""
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


@dataclass(frozen=True)
class Problem:
    key: str
    value: object
    allowed: str
    # The line of the stack file that holds the key (offline only: the CLI passes no lines).
    line: int | None = None

    def __str__(self) -> str:
        shown = "<missing>" if self.value is MISSING else show(self.value)
        return f"{self.key}: got {shown} — {self.allowed}"


class FieldError(ValueError):
    """Raised by a model's cross-field rule to name the exact field at fault (relative to the model)
    and only the value involved, instead of the whole object pydantic would otherwise report."""

    def __init__(self, path: tuple[str | int, ...], value: object, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.value = value
        self.message = message


class SettingsError(pulumi.RunError):
    """Every config problem at once, raised before any resource is registered. Read from a stack
    file (`source`), a problem whose key is on a line of it starts with `<file>:<line>:`, as
    compilers print it, so an editor can jump there."""

    def __init__(self, problems: Iterable[Problem], source: str | None = None) -> None:
        self.problems = tuple(problems)
        self.source = source
        lines = "\n".join(f"  - {_located(p, source)}" for p in self.problems)
        super().__init__(f"invalid stack configuration ({len(self.problems)} problem(s)):\n{lines}")


def _located(problem: Problem, source: str | None) -> str:
    if problem.line is None:
        return str(problem)
    where = f"{source}:{problem.line}" if source else f"line {problem.line}"
    return f"{where}: {problem}"


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Fields whose keys are free names (attribute keys, tag names): shown as ["key"], never as .key.
MAP_FIELDS = frozenset({"resourceAttributes", "customTags", "tags"})


def key_path(loc: tuple[int | str, ...], namespace: str = PROJECT) -> str:
    """`mesh-tracing:tracedNamespaces[2].customTags["x.y"]` from a pydantic location."""
    path = f"{namespace}:"
    for i, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "[key]":
            continue
        elif not _IDENTIFIER.match(part) or (i > 0 and isinstance(loc[i - 1], str) and loc[i - 1] in MAP_FIELDS):
            path += f'["{part}"]'
        else:
            path += ("." if i > 0 else "") + part
    return path
