"""Invariants that hold for ANY valid stack file: the shipped examples and every stack a team adds.

Nothing here names a value of a shipped stack file: a team edits those files (clusters, namespaces,
sampling, …) and this suite must stay green for every valid edit. Specific values are asserted on
the test stacks in tests/stacks/ instead.
"""

from __future__ import annotations

import pytest
from pulumi_policy import EnforcementLevel

from config.problems import SettingsError
from config.types import MtlsMode
from kube.resources import PEER_AUTHENTICATION_TYPE, TELEMETRY_TYPE
from meshtools.recording import Run, changed_resources
from policy.mesh_policies import RULES
from tests.conftest import SHIPPED_STACK_NAMES, shipped_rerun, shipped_run, shipped_stack
from tests.support import rendered
from tests.support.conformance import check_run
from tests.support.policy import violations

pytestmark = pytest.mark.parametrize("name", SHIPPED_STACK_NAMES)


def test_loads(name: str) -> None:
    stack = shipped_stack(name)
    # The tools (which read the file) and the program (which reads Pulumi's config) agree.
    assert shipped_run(name).outputs["environment"] == stack.settings.environment
    if stack.settings.is_production:
        assert stack.kube_context, "a production stack names its cluster"


def test_conforms_to_the_pinned_charts_and_crds(name: str) -> None:
    assert check_run(name, shipped_run(name)) == []


def test_passes_every_mandatory_policy(name: str) -> None:
    run = shipped_run(name)
    found = {rule.name: violations(rule, run) for rule in RULES if rule.level is EnforcementLevel.MANDATORY}
    assert {rule: messages for rule, messages in found.items() if messages} == {}


def test_no_secret_in_plain_text(name: str) -> None:
    run = shipped_run(name)
    assert run.secret_values, "every stack has at least a generated or configured secret"
    for resource in run:
        for key, value in resource.inputs.items():
            if key in resource.secret_inputs:
                continue
            leaked = [s for s in run.secret_values if s in repr(value)]
            assert not leaked, f"{resource.name}.{key} carries a secret in plain text"
    public = {k: v for k, v in run.outputs.items() if k not in run.secret_outputs}
    assert not [s for s in run.secret_values if s in repr(public)]


def test_sampling_changes_only_the_mesh_telemetry(name: str) -> None:
    run = shipped_run(name)
    current = shipped_stack(name).settings.sampling_percent
    other = 5.0 if current != 5.0 else 2.5
    assert changed_resources(run, shipped_rerun(name, {"samplingPercent": other}, previous=run)) == {
        "mesh-telemetry": "changed"
    }


def test_mtls_changes_only_the_mesh_peer_authentication(name: str) -> None:
    settings = shipped_stack(name).settings
    other = next(mode for mode in MtlsMode if mode is not settings.mtls_mode)
    if settings.is_production:
        # Production allows STRICT only: the knob is refused by name before anything is registered.
        with pytest.raises(SettingsError) as caught:
            shipped_rerun(name, {"mtlsMode": other.value})
        assert [p.key for p in caught.value.problems] == ["mesh-tracing:mtlsMode"]
        return
    run = shipped_run(name)
    assert changed_resources(run, shipped_rerun(name, {"mtlsMode": other.value}, previous=run)) == {
        "mesh-peer-authentication": "changed"
    }


def test_ordering_holds(name: str) -> None:
    run = shipped_run(name)
    mesh = {"mesh-base", "mesh-istiod"}
    assert "mesh-base" in run.named("mesh-istiod").dependency_names
    for resource in run.by_type(TELEMETRY_TYPE) + run.by_type(PEER_AUTHENTICATION_TYPE):
        assert mesh <= resource.dependency_names, resource.name
    for resource in run:
        if resource.parent_name.startswith("ns-"):
            assert mesh <= resource.dependency_names, f"{resource.name} must wait for the injector and CRDs"
    kiali = run.maybe("kiali-release")
    if kiali is not None:
        assert "mesh-istiod" in kiali.dependency_names


def test_a_second_run_changes_nothing(name: str) -> None:
    """What a second `pulumi up` compares: same inputs and options, generated values kept from state."""
    run: Run = shipped_run(name)
    assert changed_resources(run, shipped_rerun(name, previous=run)) == {}


def test_what_the_cluster_receives_conforms_and_carries_spans_to_the_collector(name: str) -> None:
    """The charts rendered with this stack's values: valid objects, CRs valid against their CRDs
    (CEL rules included), and the Zipkin path from the mesh config to the collector's pipeline."""
    objects = rendered.rendered_objects(shipped_run(name))
    findings = rendered.check(name, shipped_stack(name).settings, objects)
    assert findings.problems == []
