"""DemoWorkload in the whole program: refused in production, off by default, and on the demo test stack
pinned from the one image table, waiting for the mesh and SigNoz, linked as Kiali links, sized as the
walk-through says.

DemoWorkload's own behaviour is tested on the component alone (tests/components/test_demo.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from components import demo
from config.problems import SettingsError
from kube.naming import SIGNOZ_ANNOTATION
from meshtools.recording import Resource, Run, changed_resources
from tests.conftest import (
    SHIPPED_STACK_NAMES,
    raw_settings,
    run_test_stack,
    shipped_run,
    shipped_stack,
    stack_run,
    stack_settings,
)
from tests.test_settings import PRODUCTION, problems, valid, with_

NAMESPACE = "mesh-tracing-demo"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
CRONJOB = "kubernetes:batch/v1:CronJob"
SIGNOZ_URL = "https://signoz.staging.example.com"  # tests/stacks/Pulumi.demo.yaml
WALKTHROUGH = Path(__file__).resolve().parent.parent / "docs" / "walkthrough.md"
EXACT_TAG = re.compile(r"^[a-z0-9.-]+(/[a-z0-9._-]+)+:v?[0-9]+\.[0-9]+\.[0-9]+$")


@pytest.fixture
def on() -> Run:
    return stack_run("demo")


def demo_resources(run: Run) -> list[Resource]:
    return [r for r in run if r.parent_name == "demo"]


def pod_templates(run: Run) -> list[tuple[str, dict[str, Any]]]:
    """(resource name, pod template) of every demo workload."""
    templates = [(r.name, r.inputs["spec"]["template"]) for r in run.by_type(DEPLOYMENT)]
    templates += [(r.name, r.inputs["spec"]["jobTemplate"]["spec"]["template"]) for r in run.by_type(CRONJOB)]
    return templates


def containers(run: Run) -> list[dict[str, Any]]:
    return [c for _, template in pod_templates(run) for c in template["spec"]["containers"]]


def millicores(quantity: str) -> int:
    return int(quantity[:-1]) if quantity.endswith("m") else int(quantity) * 1000


def mebibytes(quantity: str) -> int:
    return int(quantity[:-2]) * (1024 if quantity.endswith("Gi") else 1)


# --------------------------------------------------------------------------- settings


def test_production_refuses_the_demo_by_name() -> None:
    assert problems(with_("prod", demo=True)) == [
        f"mesh-tracing:demo: got true — must be false (the demo workload is for trying the stack out): {PRODUCTION}"
    ]
    assert valid(with_("prod", demo=False)).demo is False


def test_production_refusal_registers_nothing() -> None:
    run = Run()
    with pytest.raises(SettingsError) as caught:
        run_test_stack("prod", {"demo": True}, into=run)
    assert [p.key for p in caught.value.problems] == ["mesh-tracing:demo"]
    assert run.resources == []


def test_demo_is_a_strict_boolean() -> None:
    [found] = problems(with_("dev", demo="yes"))
    assert found.startswith("mesh-tracing:demo: got 'yes' — ")
    assert valid(with_("dev", demo=True)).demo is True
    assert valid(raw_settings("minimal")).demo is False, "off unless asked for"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"tracedNamespaces": ["shop", NAMESPACE]},
            "mesh-tracing:tracedNamespaces[1].name: got 'mesh-tracing-demo' — is the demo namespace, which "
            "mesh-tracing:demo creates and traces; choose an application namespace",
        ),
        (
            {"signoz": {"namespace": NAMESPACE}},
            "mesh-tracing:signoz.namespace: got 'mesh-tracing-demo' — is the demo namespace while mesh-tracing:demo "
            "is true; choose another",
        ),
        (
            {"istio": {"gateway": {"enabled": True, "namespace": NAMESPACE}}},
            "mesh-tracing:istio.gateway.namespace: got 'mesh-tracing-demo' — is the demo namespace while "
            "mesh-tracing:demo is true; choose another",
        ),
    ],
)
def test_no_other_part_may_use_the_demo_namespace(changes: dict[str, Any], expected: str) -> None:
    assert problems(with_("dev", demo=True, **changes)) == [expected]
    assert valid(with_("dev", demo=False, **changes)), "without the demo the name is free"


def test_config_text_from_the_cli_turns_it_on() -> None:
    """`pulumi config set mesh-tracing:demo true` stores the text "true"."""
    run = run_test_stack("minimal", {"demo": "true"})
    assert run.outputs["demo"]["namespace"] == NAMESPACE


# --------------------------------------------------------------------------- off


@pytest.mark.parametrize("name", ["dev", "prod", "edge", "minimal"])
def test_nothing_is_registered_when_off(name: str) -> None:
    run = stack_run(name)
    assert [r.name for r in run if r.name.startswith("demo") or r.parent_name == "demo"] == []
    assert not [r for r in run if r.inputs.get("metadata", {}).get("namespace") == NAMESPACE]
    assert run.outputs["demo"] is None


def test_turning_it_on_adds_only_the_demo(dev: Run) -> None:
    changed = changed_resources(dev, run_test_stack("dev", {"demo": True}, previous=dev))
    assert set(changed.values()) == {"added"}
    assert set(changed) == {
        "demo",
        "demo-namespace",
        *(f"demo-{app.name}" for app in demo.DEMO_APPS),
        *(f"demo-{app.name}-service" for app in demo.DEMO_APPS),
        "demo-loadgen",
    }


# --------------------------------------------------------------------------- on: the test stack


def test_images_are_pinned_by_exact_tag_from_the_one_table(on: Run) -> None:
    table = {image.reference for image in demo.demo_images(stack_settings("demo").istio).values()}
    used = [c["image"] for c in containers(on)]
    assert sorted(used) == sorted(table), "every image comes from demo_images and every entry is used"
    for image in used:
        assert EXACT_TAG.match(image), f"{image} is not pinned to an exact version tag"
        assert not image.endswith(":latest")


def test_the_links_follow_the_template_kiali_shows(on: Run) -> None:
    """The demo annotates its workloads with the link Kiali's "Traces in SigNoz" detail opens."""
    template = on.outputs["signozLinkTemplate"]
    assert template == f"{SIGNOZ_URL}/services/<app>.<namespace>"
    for service in on.by_type(SERVICE):
        app = service.inputs["metadata"]["name"]
        expected = template.replace("<app>", app).replace("<namespace>", NAMESPACE)
        assert service.inputs["metadata"]["annotations"] == {SIGNOZ_ANNOTATION: expected}


def test_everything_waits_for_the_mesh_and_the_load_for_the_app_and_collector(on: Run) -> None:
    mesh = {"mesh-base", "mesh-istiod"}
    for resource in demo_resources(on):
        assert mesh <= resource.dependency_names, f"{resource.name} must wait for the injector"
        if resource.name != "demo-namespace":
            assert "demo-namespace" in resource.dependency_names, resource.name
    loadgen = on.named("demo-loadgen").dependency_names
    assert {f"demo-{app.name}" for app in demo.DEMO_APPS} | {"signoz-release"} <= loadgen
    assert on.named("demo").parent_name == "mesh-tracing-demo", "a top-level component"


def test_the_demo_namespace_is_not_a_traced_namespace_entry(on: Run) -> None:
    """It is the demo's own: not listed with the stack's traced namespaces, never adopted or restarted."""
    assert [s.name for s in stack_settings("demo").traced_namespaces] == ["shop"]
    assert [s["name"] for s in on.outputs["tracedNamespaces"]] == ["shop"]
    assert on.outputs["namespacesToRestart"] == []


def test_the_walkthrough_sizing_table_adds_up_the_demo(on: Run) -> None:
    """The walk-through's demo rows are the sums of what the program registers."""

    def total(kind: str, quantities: list[dict[str, dict[str, str]]]) -> str:
        cpu = sum(millicores(q[kind]["cpu"]) for q in quantities)
        memory = sum(mebibytes(q[kind]["memory"]) for q in quantities)
        return f"{cpu}m / {memory}Mi"

    apps = [c["resources"] for c in containers(on)]
    sidecars = [
        {
            "requests": {"cpu": a["sidecar.istio.io/proxyCPU"], "memory": a["sidecar.istio.io/proxyMemory"]},
            "limits": {"cpu": a["sidecar.istio.io/proxyCPULimit"], "memory": a["sidecar.istio.io/proxyMemoryLimit"]},
        }
        for a in (template["metadata"]["annotations"] for _, template in pod_templates(on))
    ]
    rows = {
        line.split("|")[1].strip(): line for line in WALKTHROUGH.read_text().splitlines() if line.startswith("| demo: ")
    }
    app_row = rows["demo: productpage, details, reviews, ratings, fortio"]
    sidecar_row = rows["demo: one istio-proxy sidecar in each demo pod"]
    assert f"| {len(apps)} | {total('requests', apps)} | {total('limits', apps)} |" in app_row
    assert f"| {total('requests', sidecars)} | {total('limits', sidecars)} |" in sidecar_row


# --------------------------------------------------------------------------- shipped stacks


@pytest.mark.parametrize("name", SHIPPED_STACK_NAMES)
def test_a_shipped_stack_runs_the_demo_by_the_rules_or_not_at_all(name: str) -> None:
    """Whatever a team does with a stack file: where the demo is on, it is pinned, sized and ordered;
    where it is off, nothing of it is registered."""
    run = shipped_run(name)
    if not shipped_stack(name).settings.demo:
        assert demo_resources(run) == [] and run.outputs["demo"] is None
        return
    table = {image.reference for image in demo.demo_images(shipped_stack(name).settings.istio).values()}
    for container in containers(run):
        assert container["image"] in table
        assert set(container["resources"]["requests"]) == set(container["resources"]["limits"]) == {"cpu", "memory"}
    for resource in demo_resources(run):
        assert {"mesh-base", "mesh-istiod"} <= resource.dependency_names, resource.name
