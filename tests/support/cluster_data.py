"""The objects of a deployed dev cluster, read from tests/data/cluster/ (see its SOURCE.md).

They come from the upstream charts and documentation, never from the program's builders, so the
checks that read them can fail. Every call parses the file again: tests may change what they get.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meshtools import yamlio

DATA = Path(__file__).resolve().parent.parent / "data" / "cluster"
JSON = dict[str, Any]

# Pods of otel-demo by what the sidecar check must make of them.
MESHED_PODS = ("web-7d9f5c6b8-x2k4p", "web-7d9f5c6b8-q8m3n", "classic-5b6c7d8e9-r2t4y")
OPTED_OUT_PODS = ("legacy-6b8c9d7f5-t4r7w", "batch-7f8e9d6c5-w3e5r", "node-agent-k9j8h")
FINISHED_PODS = ("migrate-28901234-zx9cv",)
UNMESHED_PODS = ("api-5c4d8f9b7-h6j2k", "reports-8d9c7b6a5-p4o3i", "cache-0", "debug")


def load(relative: str) -> JSON:
    """One object, e.g. load("signoz/service-signoz.yaml")."""
    document: JSON = yamlio.load((DATA / relative).read_text())
    return document


def obj(namespace: str, kind: str, name: str) -> JSON:
    return load(f"{namespace}/{kind.lower()}-{name}.yaml")


def pods(*names: str, namespace: str = "otel-demo") -> list[JSON]:
    return [obj(namespace, "Pod", name) for name in names]


def objects(*directories: str) -> list[JSON]:
    """Every object in the given directories (all of them when none is named), pods included."""
    chosen = directories or tuple(sorted(p.name for p in DATA.iterdir() if p.is_dir()))
    return [load(str(path.relative_to(DATA))) for d in chosen for path in sorted((DATA / d).glob("*.yaml"))]


def without_pods(found: list[JSON]) -> list[JSON]:
    return [o for o in found if o["kind"] != "Pod"]
