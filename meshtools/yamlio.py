"""YAML read through libyaml when PyYAML has it: the tools and the tests read rendered charts, stack
files and cluster objects thousands of times, and the pure-Python parser was a third of the fast
suite's time. Safe loading only; the same values and marks as yaml.safe_load and yaml.compose."""

from __future__ import annotations

from typing import Any

import yaml

SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str) -> Any:
    """What yaml.safe_load returns for `text`."""
    return yaml.load(text, Loader=SafeLoader)


def compose(text: str) -> yaml.Node | None:
    """The node tree of `text`, with each node's line and column (yaml.compose, safely)."""
    node: yaml.Node | None = yaml.compose(text, Loader=SafeLoader)
    return node
