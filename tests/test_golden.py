"""The desired state of every test stack equals its committed golden file (`make golden` writes them;
the component tests compare their scenarios with tests/golden/components/ the same way)."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from meshtools import plan
from tests.components.scenarios import SCENARIOS, golden_problem
from tests.conftest import GOLDEN, TEST_STACK_NAMES, TEST_STACKS
from tests.support.components import golden_path


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


def test_every_component_golden_file_belongs_to_a_scenario() -> None:
    """Each component test scenario compares with its own file (tests/components/); `make golden`
    removes the file of a scenario that is gone."""
    expected = {golden_path(component, scenario) for component in SCENARIOS for scenario in SCENARIOS[component]}
    assert set(GOLDEN.glob("components/*/*.yaml")) == expected
    assert {p.relative_to(GOLDEN) for p in GOLDEN.rglob("*.yaml")} <= {
        *(p.relative_to(GOLDEN) for p in expected),
        *(Path(f"{name}.plan.yaml") for name in TEST_STACK_NAMES),
    }, "no other golden file"


@pytest.mark.parametrize(
    ("component", "scenario"), [(component, scenario) for component in SCENARIOS for scenario in SCENARIOS[component]]
)
def test_each_component_scenario_registers_what_its_golden_file_holds(component: str, scenario: str) -> None:
    if problem := golden_problem(component, scenario):
        pytest.fail(problem)
