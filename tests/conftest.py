"""Shared fixtures: the real program evaluated under mocks for the test stacks in tests/stacks/.

Behaviour tests assert specific values on these test stacks only. The shipped stack files
(Pulumi.dev.yaml, Pulumi.prod.yaml, and any a team adds) get only the invariants in
test_shipped_stacks.py, so any valid edit of them keeps the suite green.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

from config.problems import PROJECT
from config.reading import StackConfig, is_encrypted
from config.stack import StackSettings
from meshtools.recording import Run, run_stack
from meshtools.stacks import PROJECT_DIR, find_stack, load_stack, read_config, stack_names

TEST_STACKS = Path(__file__).resolve().parent / "stacks"
GOLDEN = Path(__file__).resolve().parent / "golden"
TEST_STACK_NAMES = tuple(stack_names(TEST_STACKS))
# The stack files a team edits, and the templates shipped beside them (as "examples/<name>"): both
# get only the invariants of test_shipped_stacks.py.
EXAMPLES = PROJECT_DIR / "examples"
SHIPPED_STACK_NAMES = (*stack_names(PROJECT_DIR), *(f"examples/{name}" for name in stack_names(EXAMPLES)))
# signoz.mode of each test stack: deploy stacks run SigNoz, remote stacks the k8s-infra agent.
REMOTE_STACK_NAMES = tuple(n for n in TEST_STACK_NAMES if load_stack(n, TEST_STACKS).settings.signoz.remote_mode)
DEPLOY_STACK_NAMES = tuple(n for n in TEST_STACK_NAMES if n not in REMOTE_STACK_NAMES)


@functools.cache
def stack_run(name: str) -> Run:
    """The recorded resources of tests/stacks/Pulumi.<name>.yaml (evaluated once per session)."""
    return run_stack(name, stacks_dir=TEST_STACKS)


def run_test_stack(name: str, overrides: dict[str, Any] | None = None, **options: Any) -> Run:
    """A fresh evaluation of a test stack with per-run overrides (keys without a namespace are ours)."""
    return run_stack(name, overrides, stacks_dir=TEST_STACKS, **options)


def stack_settings(name: str) -> StackSettings:
    return load_stack(name, TEST_STACKS).settings


def raw_settings(name: str) -> dict[str, Any]:
    """A test stack's `mesh-tracing:` keys without the prefix and without secrets, as written."""
    prefix = f"{PROJECT}:"
    return {
        key.removeprefix(prefix): value
        for key, value in read_config(find_stack(name, TEST_STACKS)).values.items()
        if key.startswith(prefix) and not is_encrypted(value)
    }


def _shipped(name: str) -> tuple[str, Path]:
    """(stack, directory) of a shipped stack name: `dev`, or `examples/staging`."""
    folder, _, stack = name.rpartition("/")
    return stack, PROJECT_DIR / folder if folder else PROJECT_DIR


@functools.cache
def shipped_run(name: str) -> Run:
    return shipped_rerun(name)


def shipped_rerun(name: str, overrides: dict[str, Any] | None = None, **options: Any) -> Run:
    stack, directory = _shipped(name)
    return run_stack(stack, overrides, stacks_dir=directory, **options)


def shipped_stack(name: str) -> StackConfig:
    stack, directory = _shipped(name)
    return load_stack(stack, directory)


@pytest.fixture(params=TEST_STACK_NAMES)
def any_test_stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=DEPLOY_STACK_NAMES)
def deploy_test_stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def dev() -> Run:
    return stack_run("dev")


@pytest.fixture
def prod() -> Run:
    return stack_run("prod")


@pytest.fixture
def edge() -> Run:
    return stack_run("edge")


@pytest.fixture
def minimal() -> Run:
    return stack_run("minimal")


@pytest.fixture
def remote() -> Run:
    return stack_run("remote")
