"""Read the committed upstream facts (tests/facts/, made by scripts/derive_facts.py)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from components.versions import ChartId, facts_version

FACTS = Path(__file__).resolve().parent.parent / "facts"


@functools.cache
def chart(chart_id: ChartId, version: str) -> dict[str, Any]:
    """Facts of `chart_id` at a pinned `version` (through the table of versions they derive from)."""
    path = FACTS / "charts" / f"{chart_id.value}-{facts_version(chart_id, version)}.json"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@functools.cache
def collector_packages(image_tag: str) -> frozenset[str]:
    path = FACTS / "collector" / f"signoz-otel-collector-{image_tag}.json"
    return frozenset(json.loads(path.read_text())["packages"])


def component_package(kind: str, name: str) -> str:
    """The Go package that provides a collector component: its type without `_`, then the kind
    (`memory_limiter/x` among processors → memorylimiterprocessor), as both builds name them."""
    return name.split("/", 1)[0].replace("_", "") + kind.removesuffix("s")


@functools.cache
def contrib_components(version: str) -> dict[str, Any]:
    """Component packages (by kind) of the otelcol-contrib distribution at `version`."""
    path = FACTS / "collector" / f"otelcol-contrib-{version}.json"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def crd_files() -> list[Path]:
    return sorted((FACTS / "crds").glob("*.json"))


@functools.cache
def crd(group: str, version: str, kind: str) -> dict[str, Any]:
    """The derived schema record of one custom resource kind (exactly one upstream version)."""
    matches = sorted((FACTS / "crds").glob(f"{group}-{version}-{kind}-*.json"))
    if len(matches) != 1:
        raise LookupError(f"expected one facts file for {group}/{version} {kind}, found {matches}")
    data: dict[str, Any] = json.loads(matches[0].read_text())
    return data
