"""The desired state of every test stack equals its committed golden file (`make golden` writes them)."""

from __future__ import annotations

import difflib

import pytest

from meshtools import plan
from tests.conftest import GOLDEN, TEST_STACK_NAMES, TEST_STACKS


@pytest.mark.parametrize("name", TEST_STACK_NAMES)
def test_desired_state_matches_its_golden_file(name: str) -> None:
    path = GOLDEN / f"{name}.plan.yaml"
    assert path.exists(), f"{path} is missing: run `make golden` and review it"
    expected, actual = path.read_text(), plan.render(name, TEST_STACKS)
    if actual != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), str(path), "now"))
        pytest.fail(f"the desired state of test stack {name} changed; if intended, run `make golden`:\n{diff}")


def test_every_golden_file_belongs_to_a_test_stack() -> None:
    expected = {f"{name}.plan.yaml" for name in TEST_STACK_NAMES}
    assert {p.name for p in GOLDEN.glob("*.yaml")} == expected
