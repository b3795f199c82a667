"""Shared fixtures: the real program evaluated under mocks for each shipped stack file."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from meshtools.recording import Run, run_stack, settings_input

STACKS = ("dev", "prod")


@functools.cache
def shipped_run(stack: str) -> Run:
    return run_stack(stack)


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def shipped(stack: str) -> Run:
    """The recorded resources of Pulumi.<stack>.yaml as shipped (evaluated once per session)."""
    return shipped_run(stack)


@pytest.fixture
def dev() -> Run:
    return shipped_run("dev")


@pytest.fixture
def prod() -> Run:
    return shipped_run("prod")


def raw_settings(stack: str) -> dict[str, Any]:
    """A stack file's `mesh-tracing:` keys without the prefix, as the settings loader receives them."""
    return settings_input(stack)


def release_pin(run: Run, name: str) -> dict[str, Any]:
    """What pins a Helm release: chart, version, release name, namespace and repository."""
    inputs = run.named(name).inputs
    return {k: inputs[k] for k in ("chart", "version", "name", "namespace", "repositoryOpts")}
