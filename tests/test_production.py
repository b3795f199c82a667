"""Which stacks are production: `mesh-tracing:production`, else the environment's name by one rule,
used alike by the settings reader, the program's outputs, CI's matrix and the policy pack."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.problems import SettingsError
from config.production import NEGATING_TOKENS, PRODUCTION_TOKENS, decide_production
from kube.naming import PRODUCTION_LABEL
from meshtools.recording import Run
from policy.mesh_policies import RULES
from tests.conftest import run_test_stack
from tests.support.policy import violations

STRICT_MTLS = next(rule for rule in RULES if rule.name == "production-strict-mtls")


@pytest.mark.parametrize(
    ("environment", "production"),
    [
        ("prod", True),
        ("production", True),
        ("prd", True),
        ("prod-us", True),
        ("eu-prod", True),
        ("eu_prd.2", True),
        ("preprod", False),
        ("dev", False),
        ("staging", False),
        ("product", False),
        ("non-prod", None),
        ("pre-prod", None),
        ("prod-not", None),
        ("eu-non-production", None),
    ],
)
def test_the_environments_name_decides_when_production_is_unset(environment: str, production: bool | None) -> None:
    assert decide_production(environment).production is production


@given(st.sampled_from(["dev", "prod", "non-prod", "qa"]), st.booleans())
def test_production_set_explicitly_always_decides(environment: str, explicit: bool) -> None:
    decision = decide_production(environment, explicit)
    assert (decision.production, decision.decided_by) == (
        explicit,
        f"mesh-tracing:production is {str(explicit).lower()}",
    )


_TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)


@given(st.lists(_TOKEN, min_size=1, max_size=5), st.sampled_from("-_."))
def test_a_name_without_a_production_token_is_never_production(tokens: list[str], separator: str) -> None:
    if set(tokens) & set(PRODUCTION_TOKENS):
        return
    assert decide_production(separator.join(tokens)).production is False


@given(st.lists(_TOKEN.filter(lambda t: t not in NEGATING_TOKENS), max_size=3), st.sampled_from(PRODUCTION_TOKENS))
def test_a_production_token_without_a_negation_beside_it_is_production(before: list[str], token: str) -> None:
    assert decide_production("-".join([*before, token])).production is True


def test_prod_us_gets_every_production_guard_rail() -> None:
    """Finding 4: `prod-us` with PERMISSIVE mTLS passed, since only prod, production and prd counted."""
    with pytest.raises(SettingsError) as caught:
        run_test_stack("dev", {"environment": "prod-us"})
    found = {p.key: p.allowed for p in caught.value.problems}
    assert found["mesh-tracing:mtlsMode"] == (
        "must be STRICT: a production stack (environment 'prod-us' has the token 'prod')"
    )
    assert "mesh-tracing:kiali.auth.strategy" in found, "and anonymous Kiali"


def test_an_undecided_name_is_refused_until_production_is_set() -> None:
    with pytest.raises(SettingsError) as caught:
        run_test_stack("dev", {"environment": "non-prod"})
    assert [str(p) for p in caught.value.problems] == [
        "mesh-tracing:production: got <missing> — required: environment 'non-prod' carries 'non' beside 'prod', "
        "so its name does not say whether it is production; set it: "
        "`pulumi config set --stack dev mesh-tracing:production true` (or false)"
    ]
    run = run_test_stack("dev", {"environment": "non-prod", "production": False})
    assert (run.outputs["production"], run.outputs["productionDecidedBy"]) == (
        False,
        "mesh-tracing:production is false",
    )


def test_the_plan_shows_which_rule_decided() -> None:
    run = run_test_stack("dev", {"environment": "eu-prd", "production": False})
    assert (run.outputs["production"], run.outputs["productionDecidedBy"]) == (
        False,
        "mesh-tracing:production is false",
    )
    run = run_test_stack("dev", {"environment": "qa-eu"})
    assert (run.outputs["production"], run.outputs["productionDecidedBy"]) == (
        False,
        "environment 'qa-eu' has no token prod, production or prd",
    )


def _mesh_telemetry(run: Run) -> dict[str, Any]:
    return run.named("mesh-telemetry").inputs


def test_the_policy_pack_applies_the_programs_decision() -> None:
    """The program labels the mesh Telemetry with its decision; the pack reads the label, so a stack
    the program decided (either way) is judged the same by both."""
    explicit_off = run_test_stack("dev", {"environment": "prod-us", "production": False})
    assert _mesh_telemetry(explicit_off)["metadata"]["labels"] == {PRODUCTION_LABEL: "false"}
    assert violations(STRICT_MTLS, explicit_off) == [], "production: false is the team's decision"
    explicit_on = run_test_stack(
        "dev", {"environment": "qa", "production": True, "mtlsMode": "STRICT", "demo": False, "kiali": {}}
    )
    assert _mesh_telemetry(explicit_on)["metadata"]["labels"] == {PRODUCTION_LABEL: "true"}
    permissive = copy.deepcopy(explicit_on)
    permissive.named("mesh-peer-authentication").inputs["spec"]["mtls"]["mode"] = "PERMISSIVE"
    assert violations(STRICT_MTLS, permissive) == [
        "PeerAuthentication istio-system/default has mTLS mode PERMISSIVE in production environment 'qa'; "
        "set mesh-tracing:mtlsMode (and any tracedNamespaces[].mtlsMode) to STRICT."
    ]


@pytest.mark.parametrize(("environment", "expected"), [("prod-us", 1), ("preprod", 0), ("non-prod", 1)])
def test_without_the_label_the_pack_decides_by_the_same_rule(environment: str, expected: int) -> None:
    """A program that predates the label: the environment tag decides, an undecided name counts as
    production."""
    run = copy.deepcopy(run_test_stack("dev"))
    telemetry = _mesh_telemetry(run)
    del telemetry["metadata"]["labels"]
    telemetry["spec"]["tracing"][0]["customTags"]["environment"]["literal"]["value"] = environment
    assert len(violations(STRICT_MTLS, run)) == expected
