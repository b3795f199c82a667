"""DemoWorkload: refused in production, off by default, and on the demo test stack a pinned, sized,
labelled and linked application that waits for the mesh, with a bounded load generator."""

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


def seconds(duration: str) -> int:
    number, unit = int(duration[:-1]), duration[-1]
    return number * {"s": 1, "m": 60, "h": 3600}[unit]


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


def test_namespace_carries_the_injection_label_of_the_stack(on: Run, dev: Run) -> None:
    namespace = on.named("demo-namespace")
    assert namespace.type == "kubernetes:core/v1:Namespace"
    assert namespace.inputs["metadata"] == {
        "name": NAMESPACE,
        "labels": {"istio.io/rev": "canary", "pod-security.kubernetes.io/enforce": "privileged"},
    }
    without_revision = run_test_stack("dev", {"demo": True})
    assert without_revision.named("demo-namespace").inputs["metadata"]["labels"] == {
        "istio-injection": "enabled",
        "pod-security.kubernetes.io/enforce": "privileged",
    }
    for resource in demo_resources(on):
        if resource.name != "demo-namespace":
            assert resource.inputs["metadata"]["namespace"] == NAMESPACE, resource.name


def test_registers_the_services_their_workloads_and_the_load_generator(on: Run) -> None:
    assert {r.inputs["metadata"]["name"] for r in on.by_type(SERVICE)} == {
        "productpage",
        "details",
        "reviews",
        "ratings",
    }
    assert {r.inputs["metadata"]["name"] for r in on.by_type(DEPLOYMENT)} == {
        "productpage-v1",
        "details-v1",
        "reviews-v2",
        "ratings-v1",
    }
    assert [r.inputs["metadata"]["name"] for r in on.by_type(CRONJOB)] == ["loadgen"]
    assert {r.type for r in demo_resources(on)} == {"kubernetes:core/v1:Namespace", SERVICE, DEPLOYMENT, CRONJOB}


def test_images_are_pinned_by_exact_tag_from_the_one_table(on: Run) -> None:
    table = {image.reference for image in demo.demo_images(stack_settings("demo").istio).values()}
    used = [c["image"] for c in containers(on)]
    assert sorted(used) == sorted(table), "every image comes from demo_images and every entry is used"
    for image in used:
        assert EXACT_TAG.match(image), f"{image} is not pinned to an exact version tag"
        assert not image.endswith(":latest")


def test_every_container_and_sidecar_has_requests_and_limits(on: Run) -> None:
    for container in containers(on):
        resources = container["resources"]
        assert set(resources["requests"]) == {"cpu", "memory"}, container["name"]
        assert set(resources["limits"]) == {"cpu", "memory"}, container["name"]
    for name, template in pod_templates(on):
        annotations = template["metadata"]["annotations"]
        assert {
            "sidecar.istio.io/proxyCPU": "10m",
            "sidecar.istio.io/proxyMemory": "64Mi",
            "sidecar.istio.io/proxyCPULimit": "500m",
            "sidecar.istio.io/proxyMemoryLimit": "256Mi",
        }.items() <= annotations.items(), name


def test_labels_ports_and_selectors_fit_istio_and_kiali(on: Run) -> None:
    services = {r.inputs["metadata"]["name"]: r.inputs for r in on.by_type(SERVICE)}
    for deployment in on.by_type(DEPLOYMENT):
        spec = deployment.inputs["spec"]
        labels = spec["template"]["metadata"]["labels"]
        assert set(labels) == {"app", "version"}
        assert deployment.inputs["metadata"]["name"] == f"{labels['app']}-{labels['version']}"
        assert spec["selector"]["matchLabels"] == labels
        service = services[labels["app"]]
        assert service["spec"]["selector"].items() <= labels.items()
        [port] = service["spec"]["ports"]
        [container] = spec["template"]["spec"]["containers"]
        assert port == {"name": "http", "port": 9080, "targetPort": "http"}, "Istio reads the protocol from the name"
        assert container["ports"] == [{"name": "http", "containerPort": 9080}]
        assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    [loadgen] = on.by_type(CRONJOB)
    assert loadgen.inputs["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"] == {
        "app": "loadgen",
        "version": "v1",
    }


def test_the_services_call_each_other(on: Run) -> None:
    """productpage calls details and reviews by their Service names; reviews calls ratings only with
    ENABLE_RATINGS=true (reviews-v1's image sets false); the load generator calls productpage."""
    services = {r.inputs["metadata"]["name"] for r in on.by_type(SERVICE)}
    for app in demo.DEMO_APPS:
        assert set(app.calls) <= services, app.name
    reviews = on.named("demo-reviews").inputs["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "ENABLE_RATINGS", "value": "true"} in reviews["env"]
    assert reviews["image"].split("/")[-1].startswith("examples-bookinfo-reviews-v2:")
    args = on.named("demo-loadgen").inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[-1] == "http://productpage.mesh-tracing-demo.svc.cluster.local:9080/productpage"


def test_the_load_is_bounded_and_runs_never_overlap(on: Run) -> None:
    spec = on.named("demo-loadgen").inputs["spec"]
    job = spec["jobTemplate"]["spec"]
    pod = job["template"]
    [container] = pod["spec"]["containers"]
    args = container["args"]
    flag = {args[i]: args[i + 1] for i in range(1, len(args) - 1) if args[i].startswith("-") and i + 1 < len(args)}
    assert spec["schedule"] == "*/5 * * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert float(flag["-qps"]) <= 1 and flag["-c"] == "1"
    run_seconds = seconds(flag["-t"])
    assert 0 < run_seconds < job["activeDeadlineSeconds"] < 300, "each run ends before the next can start"
    assert job["backoffLimit"] <= 1 and pod["spec"]["restartPolicy"] == "Never"
    assert spec["successfulJobsHistoryLimit"] == spec["failedJobsHistoryLimit"] == 1
    # A native sidecar ends with the Job's container, so the run completes on every supported kubelet.
    assert pod["metadata"]["annotations"]["sidecar.istio.io/nativeSidecar"] == "true"
    assert container["securityContext"]["runAsNonRoot"] is True and container["securityContext"]["runAsUser"] > 0


def test_every_workload_and_service_links_to_its_traces_in_signoz(on: Run) -> None:
    def link(app: str) -> str:
        return f"{SIGNOZ_URL}/services/{app}.{NAMESPACE}"

    for service in on.by_type(SERVICE):
        app = service.inputs["metadata"]["name"]
        assert service.inputs["metadata"]["annotations"] == {SIGNOZ_ANNOTATION: link(app)}
    for deployment in on.by_type(DEPLOYMENT):
        app = deployment.inputs["spec"]["template"]["metadata"]["labels"]["app"]
        assert deployment.inputs["metadata"]["annotations"] == {SIGNOZ_ANNOTATION: link(app)}
        assert deployment.inputs["spec"]["template"]["metadata"]["annotations"][SIGNOZ_ANNOTATION] == link(app)
    assert on.named("demo-loadgen").inputs["metadata"]["annotations"] == {SIGNOZ_ANNOTATION: link("loadgen")}
    assert on.outputs["signozLinkTemplate"] == f"{SIGNOZ_URL}/services/<app>.<namespace>"


def test_no_link_without_a_signoz_url() -> None:
    run = run_test_stack("minimal", {"demo": True})
    for resource in run:
        assert SIGNOZ_ANNOTATION not in repr(resource.inputs), resource.name
    assert run.outputs["demo"]["signozLink"] is None


def test_everything_waits_for_the_mesh_and_the_load_for_the_app_and_collector(on: Run) -> None:
    mesh = {"mesh-base", "mesh-istiod"}
    for resource in demo_resources(on):
        assert mesh <= resource.dependency_names, f"{resource.name} must wait for the injector"
        if resource.name != "demo-namespace":
            assert "demo-namespace" in resource.dependency_names, resource.name
    loadgen = on.named("demo-loadgen").dependency_names
    assert {f"demo-{app.name}" for app in demo.DEMO_APPS} | {"signoz-release"} <= loadgen
    assert on.named("demo").parent_name == "mesh-tracing-demo", "a top-level component"


def test_outputs_say_where_to_look(on: Run) -> None:
    assert on.outputs["demo"] == {
        "namespace": NAMESPACE,
        "entrypoint": "productpage.mesh-tracing-demo.svc.cluster.local:9080",
        "path": "/productpage",
        "load": "1 request/s for 4m, every 5 minutes (*/5 * * * *)",
        "spanServices": [f"{app}.{NAMESPACE}" for app in ("loadgen", "productpage", "details", "reviews", "ratings")],
        "signozLink": f"{SIGNOZ_URL}/services/productpage.{NAMESPACE}",
        "kialiGraphPath": f"/kiali/console/graph/namespaces?namespaces={NAMESPACE}",
    }
    without_kiali = run_test_stack("demo", {"kiali": {"enabled": False}})
    assert without_kiali.outputs["demo"]["kialiGraphPath"] is None


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
