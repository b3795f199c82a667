"""DemoWorkload built alone from its Args: what it registers (golden files per scenario) and its
wiring: the namespace after the mesh, every workload in it, sized and labelled for Istio and Kiali,
linked to SigNoz, a bounded load generator that starts after the apps and the trace sink."""

from __future__ import annotations

from typing import Any

import pytest

from components import demo
from kube.naming import SIGNOZ_ANNOTATION
from meshtools.recording import Resource
from tests.components.builders import DEMO_IMAGES
from tests.components.scenarios import SCENARIOS, recorded
from tests.support.components import Recorded, children_of, outside_the_tree

NAMESPACE = "mesh-tracing-demo"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
CRONJOB = "kubernetes:batch/v1:CronJob"
SIGNOZ_URL = "https://signoz.example.com"


def of_type(workload: Recorded[Any], type_token: str) -> list[Resource]:
    return [r for r in workload.resources if r.type == type_token]


def pod_templates(workload: Recorded[Any]) -> list[tuple[str, dict[str, Any]]]:
    templates = [(r.name, r.inputs["spec"]["template"]) for r in of_type(workload, DEPLOYMENT)]
    templates += [(r.name, r.inputs["spec"]["jobTemplate"]["spec"]["template"]) for r in of_type(workload, CRONJOB)]
    return templates


def containers(workload: Recorded[Any]) -> list[dict[str, Any]]:
    return [c for _, template in pod_templates(workload) for c in template["spec"]["containers"]]


def seconds(duration: str) -> int:
    number, unit = int(duration[:-1]), duration[-1]
    return number * {"s": 1, "m": 60, "h": 3600}[unit]


@pytest.mark.parametrize("scenario", SCENARIOS["demo"])
def test_everything_is_its_own_child_in_its_namespace_after_the_mesh(scenario: str) -> None:
    """Pods are created only once istiod's injector serves, or they would start without sidecars."""
    workload = recorded("demo", scenario)
    assert outside_the_tree(workload) == [] and children_of(workload) == workload.resources
    for resource in workload.resources:
        assert "mesh-istiod" in resource.dependency_names, resource.name
        if resource.name != "demo-namespace":
            assert resource.inputs["metadata"]["namespace"] == NAMESPACE, resource.name
            assert "demo-namespace" in resource.dependency_names, resource.name


def test_the_namespace_carries_the_injection_label_it_is_given() -> None:
    for scenario, label in (
        ("plain", {"istio-injection": "enabled"}),
        ("linked_on_a_revision", {"istio.io/rev": "canary"}),
    ):
        namespace = recorded("demo", scenario).named("demo-namespace").inputs["metadata"]
        assert namespace == {"name": NAMESPACE, "labels": {**label, "pod-security.kubernetes.io/enforce": "privileged"}}


def test_a_service_and_a_workload_per_app_and_one_load_generator() -> None:
    workload = recorded("demo", "plain")
    apps = {app.name for app in demo.DEMO_APPS}
    assert {r.inputs["metadata"]["name"] for r in of_type(workload, SERVICE)} == apps
    assert {r.inputs["metadata"]["name"] for r in of_type(workload, DEPLOYMENT)} == {
        f"{app.name}-{app.version}" for app in demo.DEMO_APPS
    }
    assert [r.inputs["metadata"]["name"] for r in of_type(workload, CRONJOB)] == ["loadgen"]
    assert sorted(c["image"] for c in containers(workload)) == sorted(i.reference for i in DEMO_IMAGES.values())


def test_the_load_starts_after_the_apps_and_the_trace_sink() -> None:
    """A bounded run spent before the services answer or the collector takes spans leaves nothing to see."""
    loadgen = recorded("demo", "plain").named("demo-loadgen").dependency_names
    assert {f"demo-{app.name}" for app in demo.DEMO_APPS} | {"signoz-release"} <= loadgen


def test_a_replaced_object_is_deleted_first() -> None:
    """Fixed names: creating the replacement first would collide with the old object."""
    workload = recorded("demo", "plain")
    assert {r.name for r in workload.resources if not r.delete_before_replace} == {"demo-namespace"}


def test_every_container_and_sidecar_has_requests_and_limits() -> None:
    workload = recorded("demo", "plain")
    for container in containers(workload):
        assert set(container["resources"]["requests"]) == {"cpu", "memory"}, container["name"]
        assert set(container["resources"]["limits"]) == {"cpu", "memory"}, container["name"]
    for name, template in pod_templates(workload):
        annotations = template["metadata"]["annotations"]
        assert {
            "sidecar.istio.io/proxyCPU",
            "sidecar.istio.io/proxyMemory",
            "sidecar.istio.io/proxyCPULimit",
            "sidecar.istio.io/proxyMemoryLimit",
        } <= set(annotations), name


def test_labels_ports_and_selectors_fit_istio_and_kiali() -> None:
    workload = recorded("demo", "plain")
    services = {r.inputs["metadata"]["name"]: r.inputs for r in of_type(workload, SERVICE)}
    for deployment in of_type(workload, DEPLOYMENT):
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
    [loadgen] = of_type(workload, CRONJOB)
    assert set(loadgen.inputs["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]) == {"app", "version"}


def test_the_services_call_each_other() -> None:
    """productpage calls details and reviews by their Service names; reviews calls ratings only with
    ENABLE_RATINGS=true; the load generator calls productpage."""
    workload = recorded("demo", "plain")
    services = {r.inputs["metadata"]["name"] for r in of_type(workload, SERVICE)}
    for app in demo.DEMO_APPS:
        assert set(app.calls) <= services, app.name
    reviews = workload.named("demo-reviews").inputs["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "ENABLE_RATINGS", "value": "true"} in reviews["env"]
    pod = workload.named("demo-loadgen").inputs["spec"]["jobTemplate"]["spec"]["template"]
    assert (
        pod["spec"]["containers"][0]["args"][-1] == f"http://productpage.{NAMESPACE}.svc.cluster.local:9080/productpage"
    )


def test_the_load_is_bounded_and_runs_never_overlap() -> None:
    spec = recorded("demo", "plain").named("demo-loadgen").inputs["spec"]
    job = spec["jobTemplate"]["spec"]
    pod = job["template"]
    [container] = pod["spec"]["containers"]
    args = container["args"]
    flag = {args[i]: args[i + 1] for i in range(1, len(args) - 1) if args[i].startswith("-")}
    assert spec["concurrencyPolicy"] == "Forbid"
    assert float(flag["-qps"]) <= 1 and flag["-c"] == "1"
    assert 0 < seconds(flag["-t"]) < job["activeDeadlineSeconds"] < 300, "each run ends before the next can start"
    assert job["backoffLimit"] <= 1 and pod["spec"]["restartPolicy"] == "Never"
    assert spec["successfulJobsHistoryLimit"] == spec["failedJobsHistoryLimit"] == 1
    # A native sidecar ends with the Job's container, so the run completes on every supported kubelet.
    assert pod["metadata"]["annotations"]["sidecar.istio.io/nativeSidecar"] == "true"
    assert container["securityContext"]["runAsNonRoot"] is True and container["securityContext"]["runAsUser"] > 0


def test_every_workload_and_service_links_to_its_traces_in_signoz() -> None:
    workload = recorded("demo", "linked_on_a_revision")

    def link(app: str) -> str:
        return f"{SIGNOZ_URL}/services/{app}.{NAMESPACE}"

    for service in of_type(workload, SERVICE):
        assert service.inputs["metadata"]["annotations"] == {
            SIGNOZ_ANNOTATION: link(service.inputs["metadata"]["name"])
        }
    for deployment in of_type(workload, DEPLOYMENT):
        app = deployment.inputs["spec"]["template"]["metadata"]["labels"]["app"]
        assert deployment.inputs["metadata"]["annotations"] == {SIGNOZ_ANNOTATION: link(app)}
        assert deployment.inputs["spec"]["template"]["metadata"]["annotations"][SIGNOZ_ANNOTATION] == link(app)
    assert workload.named("demo-loadgen").inputs["metadata"]["annotations"] == {SIGNOZ_ANNOTATION: link("loadgen")}
    assert workload.outputs["signozLink"] == link("productpage")


def test_no_link_without_a_signoz_url() -> None:
    workload = recorded("demo", "plain")
    for resource in workload.resources:
        assert SIGNOZ_ANNOTATION not in repr(resource.inputs), resource.name
    assert workload.component.summary["signozLink"] is None and "signozLink" not in workload.outputs


def test_reports_where_to_look() -> None:
    plain = recorded("demo", "plain")
    assert plain.outputs == {k: v for k, v in plain.component.summary.items() if v is not None}
    assert plain.outputs["entrypoint"] == f"productpage.{NAMESPACE}.svc.cluster.local:9080"
    assert plain.outputs["kialiGraphPath"] == f"/kiali/console/graph/namespaces?namespaces={NAMESPACE}"
    assert recorded("demo", "linked_on_a_revision").component.summary["kialiGraphPath"] is None, "no Kiali"
