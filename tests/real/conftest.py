"""The real-binary tier: tests that run upstream binaries built by `tools/toolchain.py` (collectors,
the Pulumi engine, an API server). They carry the `real` marker, which the fast suite (`make test`)
deselects; their own make targets select it. A binary that cannot be built fails them, never skips."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.real)
