"""Canary upgrades by revision: control planes, tags, who injects which pod, adopting today's control
plane, and what each step of an upgrade restarts."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from kube import revisions
from meshtools import datapath, helm, sidecars
from meshtools.charts import locate
from meshtools.plan import render, revision_moves
from meshtools.recording import Run, changed_resources
from tests.conftest import TEST_STACKS, raw_settings, run_test_stack, stack_run, stack_settings
from tests.support.rendered import rendered_objects
from tests.test_settings import problems, valid, with_
from versions.table import CHARTS, ChartId

NEW, OLD = CHARTS[ChartId.ISTIOD].versions[:2]
MWC = "MutatingWebhookConfiguration"

# The Pod Security label every created meshed namespace carries.
PRIVILEGED = "pod-security.kubernetes.io/enforce"


@pytest.fixture(scope="module")
def canary() -> Run:
    return stack_run("canary")


def istio_of(stack: str, **changes: Any) -> dict[str, Any]:
    return {**raw_settings(stack).get("istio", {}), **changes}


def moved_default() -> dict[str, Any]:
    """The canary test stack one step on: the `default` tag moved to 1.31."""
    return istio_of("canary", tags={"default": "1-31", "canary": "1-31"})


# --------------------------------------------------------------------------- the canary test stack


def test_two_control_planes_one_release_each(canary: Run) -> None:
    old, new = canary.named("mesh-istiod").inputs, canary.named("mesh-istiod-1-31").inputs
    assert (old["name"], old["version"], "revision" in old["values"]) == ("istiod", OLD, False)
    assert (new["name"], new["version"], new["values"]["revision"]) == ("istiod-1-31", NEW, "1-31")
    assert old["values"]["meshConfig"] == new["values"]["meshConfig"], "one mesh config for every revision"
    assert canary.named("mesh-base").inputs["version"] == NEW, "CRDs of the newest control plane"
    assert "operatorManageWebhooks" not in old["values"]["global"], "default still points at it"


def test_tags_are_the_programs_own_objects(canary: Run) -> None:
    tag = canary.named("mesh-tag-canary").inputs
    assert tag["metadata"]["name"] == "istio-revision-tag-canary"
    assert tag["metadata"]["labels"]["istio.io/rev"] == "1-31"
    assert {w["clientConfig"]["service"]["name"] for w in tag["webhooks"]} == {"istiod-1-31"}
    assert canary.maybe("mesh-tag-default") is None, "the unrevisioned istiod's own injector serves default"
    assert canary.named("mesh-tag-canary").dependency_names == {"mesh-istiod-1-31"}
    service = canary.named("mesh-tag-canary-service").inputs
    assert service["spec"]["selector"] == {"app": "istiod", "istio.io/rev": "1-31"}


def test_each_namespace_carries_the_label_of_its_revision(canary: Run) -> None:
    labels = {
        r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"]
        for r in canary.by_type("kubernetes:core/v1:Namespace")
        if r.inputs["metadata"]["name"] in {"checkout", "payments", "mesh-tracing-demo"}
    }
    assert labels == {
        "checkout": {"istio.io/rev": "canary", PRIVILEGED: "privileged"},
        "payments": {"istio-injection": "enabled", PRIVILEGED: "privileged"},
        "mesh-tracing-demo": {"istio-injection": "enabled", PRIVILEGED: "privileged"},
    }
    assert canary.outputs["meshRevisions"] == {
        "gateway/istio-ingress/istio-ingress": "1-31",
        "namespace/checkout": "1-31",
        "namespace/mesh-tracing-demo": "default",
        "namespace/payments": "default",
    }
    assert canary.named("mesh-gateway").inputs["values"]["revision"] == "canary"


def test_the_default_validator_follows_the_default_tag(canary: Run) -> None:
    assert "defaultRevision" not in canary.named("mesh-base").inputs["values"], "default: the unrevisioned istiod"
    moved = run_test_stack("canary", {"istio": moved_default()})
    assert moved.named("mesh-base").inputs["values"]["defaultRevision"] == "1-31"


def test_moving_default_hands_injection_over_before_the_old_injector_stops() -> None:
    moved = run_test_stack("canary", {"istio": moved_default()})
    assert moved.named("mesh-istiod").inputs["values"]["global"]["operatorManageWebhooks"] is True
    assert {"mesh-tag-default", "mesh-tag-default-service"} <= moved.named("mesh-istiod").dependency_names
    default_tag = moved.named("mesh-tag-default").inputs
    assert [w["name"] for w in default_tag["webhooks"]] == [
        "rev.namespace.sidecar-injector.istio.io",
        "rev.object.sidecar-injector.istio.io",
        "namespace.sidecar-injector.istio.io",
        "object.sidecar-injector.istio.io",
    ]
    assert moved.outputs["meshRevisions"]["namespace/payments"] == "1-31"


def test_the_demo_pulls_bookinfo_through_the_hub(canary: Run) -> None:
    images = {
        c["image"]
        for r in canary.by_type("kubernetes:apps/v1:Deployment")
        for c in r.inputs["spec"]["template"]["spec"]["containers"]
    }
    assert "registry.example.com:5000/istio/examples-bookinfo-productpage-v1:1.20.3" in images
    values = canary.named("mesh-istiod-1-31").inputs["values"]["global"]
    assert (values["hub"], values["tag"], values["imagePullSecrets"]) == (
        "registry.example.com:5000/istio",
        NEW,
        ["registry-pull"],
    )
    assert canary.named("mesh-gateway").inputs["values"]["imagePullSecrets"] == [{"name": "registry-pull"}]


# --------------------------------------------------------------------------- who injects a pod


def _matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    for expression in (selector or {}).get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return all(labels.get(k) == v for k, v in ((selector or {}).get("matchLabels") or {}).items())


def injectors(objects: list[Any], namespace_labels: dict[str, str], pod_labels: dict[str, str]) -> set[str]:
    """The istiod Services whose webhooks would inject a pod with these labels, over every rendered
    MutatingWebhookConfiguration (the charts' and the program's)."""
    services = set()
    for manifest in objects:
        if manifest.object.get("kind") != MWC:
            continue
        for webhook in manifest.object.get("webhooks") or []:
            if _matches(webhook.get("namespaceSelector"), namespace_labels) and _matches(
                webhook.get("objectSelector"), pod_labels
            ):
                services.add(f"{manifest.object['metadata']['name']} → {webhook['clientConfig']['service']['name']}")
    return services


@pytest.mark.parametrize("step", ["canary", "default moved"])
def test_exactly_one_injector_serves_every_pod(step: str) -> None:
    run = stack_run("canary") if step == "canary" else run_test_stack("canary", {"istio": moved_default()})
    objects = rendered_objects(run)
    default_service = "istiod" if step == "canary" else "istiod-1-31"
    cases = {
        "istio-injection=enabled": ({"istio-injection": "enabled"}, {}, default_service),
        "istio.io/rev=canary": ({"istio.io/rev": "canary"}, {}, "istiod-1-31"),
        "istio.io/rev=1-31": ({"istio.io/rev": "1-31"}, {}, "istiod-1-31"),
        "gateway pod on canary": ({}, {"sidecar.istio.io/inject": "true", "istio.io/rev": "canary"}, "istiod-1-31"),
    }
    for case, (namespace_labels, pod_labels, service) in cases.items():
        found = injectors(objects, namespace_labels, pod_labels)
        assert len(found) == 1 and next(iter(found)).endswith(f"→ {service}"), (step, case, found)
    assert injectors(objects, {}, {}) == set(), "an unlabelled namespace is not injected"


@pytest.mark.parametrize("version", CHARTS[ChartId.ISTIOD].versions)
@pytest.mark.parametrize(("tag", "revision"), [("canary", "1-31"), ("default", "1-31"), ("old", "")])
def test_tag_objects_are_what_the_istiod_chart_renders_for_them(version: str, tag: str, revision: str) -> None:
    source = locate(ChartId.ISTIOD, version)
    values = {"revisionTags": [tag], **({"revision": revision} if revision else {})}
    documents = helm.render(source.path, values, "istiod", "istio-system")
    chart_tag = next(d.object for d in documents if d.object["metadata"]["name"] == f"istio-revision-tag-{tag}")
    chart_service = next(d.object for d in documents if d.object["metadata"]["name"] == f"istiod-revision-tag-{tag}")
    control_plane = revisions.ControlPlane(revision or "default", version, revision, "istiod", "istiod")
    ours = revisions.tag_webhooks(tag, control_plane, "istio-system")
    assert ours == [{k: v for k, v in w.items() if k != "clientConfig"} | {"clientConfig": w["clientConfig"]}
                    for w in chart_tag["webhooks"]]  # fmt: skip
    assert revisions.tag_service_spec(control_plane) == {
        "ports": chart_service["spec"]["ports"],
        "selector": chart_service["spec"]["selector"],
    }
    for label in ("istio.io/tag", "istio.io/rev"):
        assert revisions.tag_labels(tag, control_plane)[label] == chart_tag["metadata"]["labels"][label]


# --------------------------------------------------------------------------- adopting today's control plane


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_listing_todays_control_plane_as_a_revision_changes_no_resource(stack: str) -> None:
    before = stack_run(stack)
    version = before.named("mesh-istiod").inputs["version"]
    istio = istio_of(stack, revisions=[{"name": "default", "chartVersion": version}], tags={"default": "default"})
    after = run_test_stack(stack, {"istio": istio}, previous=before)
    assert changed_resources(before, after) == {}, "the release istiod is kept: nothing deleted or recreated"


def test_a_revisioned_control_plane_is_adopted_by_its_revision() -> None:
    before = stack_run("edge")  # single form with istio.revision: canary
    version = before.named("mesh-istiod").inputs["version"]
    istio = istio_of("edge", revisions=[{"name": "canary", "chartVersion": version}], tags={"default": "canary"}) | {
        "gateway": {**istio_of("edge")["gateway"], "revision": "canary"}
    }
    after = run_test_stack("edge", {"istio": istio}, previous=before)
    changed = changed_resources(before, after)
    assert "mesh-istiod" not in changed and "mesh-base" not in changed
    assert after.named("mesh-gateway").inputs == before.named("mesh-gateway").inputs, "it now also waits for the tag"
    assert {changed["mesh-tag-default"], changed["mesh-tag-default-service"]} == {"added"}
    # Namespaces move from istio.io/rev=canary to the default tag's istio-injection=enabled: same istiod.
    assert set(after.outputs["meshRevisions"].values()) == {"canary"}


def test_adding_the_canary_keeps_the_old_control_plane(canary: Run) -> None:
    one = istio_of("canary", revisions=[{"name": "default", "chartVersion": OLD}], tags={"default": "default"})
    one["gateway"] = {**one["gateway"], "revision": "default"}
    overrides = {"istio": one, "tracedNamespaces": ["checkout", "payments"]}
    changed = changed_resources(run_test_stack("canary", overrides, previous=canary), canary)
    assert "mesh-istiod" not in changed
    assert changed["mesh-istiod-1-31"] == "added" and changed["mesh-tag-canary"] == "added"


# --------------------------------------------------------------------------- what each step restarts


def _plan(stack: str, **istio: Any) -> str:
    """The desired state of a test stack with istio settings changed, rendered in a scratch folder."""
    folder = Path(__import__("tempfile").mkdtemp())
    document = yaml.safe_load((TEST_STACKS / f"Pulumi.{stack}.yaml").read_text())
    document["config"]["mesh-tracing:istio"] = {**document["config"]["mesh-tracing:istio"], **istio}
    (folder / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document))
    return render(stack, folder)


def test_each_step_names_the_workloads_that_restart() -> None:
    canary_plan = render("canary", TEST_STACKS)
    moved = _plan("canary", tags={"default": "1-31", "canary": "1-31"})
    assert revision_moves(canary_plan, moved) == [
        "restart to move: the workloads of namespace mesh-tracing-demo (revision default → 1-31)",
        "restart to move: the workloads of namespace payments (revision default → 1-31)",
    ]
    back = _plan("canary", gateway={**raw_settings("canary")["istio"]["gateway"], "revision": "default"})
    assert revision_moves(canary_plan, back) == [
        "restart to move: the gateway istio-ingress/istio-ingress (revision 1-31 → default)"
    ]
    assert revision_moves(canary_plan, canary_plan) == []


# --------------------------------------------------------------------------- wrong shapes


REVISIONS = [{"name": "1-30", "chartVersion": OLD}, {"name": "1-31", "chartVersion": NEW}]


@pytest.mark.parametrize(
    ("istio", "expected"),
    [
        (
            {"revisions": REVISIONS, "tags": {"default": "1-30", "canary": "1-32"}},
            "mesh-tracing:istio.tags[\"canary\"]: got '1-32' — not a revision of istio.revisions (1-30, 1-31); a "
            "tag must point at a listed revision (move it before removing its revision)",
        ),
        (
            {"revisions": [REVISIONS[1]], "tags": {"default": "1-30"}},
            "mesh-tracing:istio.tags[\"default\"]: got '1-30' — not a revision of istio.revisions (1-31); a tag "
            "must point at a listed revision (move it before removing its revision)",
        ),
        (
            {"revisions": [REVISIONS[0], {"name": "1-30b", "chartVersion": OLD}], "tags": {"default": "1-30"}},
            f"mesh-tracing:istio.revisions[1].chartVersion: got '{OLD}' — revisions[0] runs this version already: "
            "each revision is a control plane of another version",
        ),
        (
            {"revisions": REVISIONS, "tags": {"canary": "1-31"}},
            'mesh-tracing:istio.tags["default"]: got <missing> — required with istio.revisions: the revision that '
            "namespaces without a revision, and istio-injection=enabled, follow",
        ),
        (
            {"revisions": REVISIONS, "tags": {"default": "1-30"}, "chartVersion": NEW},
            f"mesh-tracing:istio.chartVersion: got '{NEW}' — only used without istio.revisions: each revision sets "
            "chartVersion",
        ),
        (
            {"revisions": REVISIONS, "tags": {"default": "1-30"}, "revision": "1-29"},
            "mesh-tracing:istio.revision: got '1-29' — names the revision running in release istiod and must be one "
            "of istio.revisions (1-30, 1-31); remove istio.revision once that control plane is gone",
        ),
        (
            {"tags": {"default": "1-30"}},
            'mesh-tracing:istio.tags: got {"default": "1-30"} — only used with istio.revisions (revision tags '
            "name revisions)",
        ),
        (
            {"revisions": REVISIONS, "tags": {"default": "1-30", "1-31": "1-31"}},
            "mesh-tracing:istio.tags[\"1-31\"]: got '1-31' — is also the name of a revision; give the tag another name",
        ),
        (
            {"hub": "registry.istio.io/release"},
            "mesh-tracing:istio.hub: got 'registry.istio.io/release' — registry.istio.io/release is retired by Istio "
            "(charts: https://blob.istio.io/istio-release/charts or oci://ghcr.io/istio/release/charts; images: "
            "docker.io/istio, or a mirror of it)",
        ),
        (
            {"chartRepository": "https://istio-release.storage.googleapis.com/charts"},
            "mesh-tracing:istio.chartRepository: got 'https://istio-release.storage.googleapis.com/charts' — "
            "istio-release.storage.googleapis.com is retired by Istio (charts: https://blob.istio.io/istio-release/"
            "charts or oci://ghcr.io/istio/release/charts; images: docker.io/istio, or a mirror of it)",
        ),
        (
            {"hub": "https://docker.io/istio"},
            "mesh-tracing:istio.hub: got 'https://docker.io/istio' — must be an image registry path such as "
            "docker.io/istio or registry.example.com:5000/istio (no scheme, no tag)",
        ),
    ],
)
def test_wrong_shapes_name_the_key(istio: dict[str, Any], expected: str) -> None:
    assert problems(with_("dev", istio=istio_of("dev", **istio))) == [expected]


def test_a_namespace_on_an_unknown_tag_is_named() -> None:
    istio = istio_of("canary")
    raw = with_("canary", istio=istio, tracedNamespaces=[{"name": "checkout", "revision": "stable"}])
    assert problems(raw) == [
        "mesh-tracing:tracedNamespaces[0].revision: got 'stable' — not a tag (default, canary) or revision "
        "(default, 1-31) of istio"
    ]
    single = with_("dev", tracedNamespaces=[{"name": "checkout", "revision": "canary"}])
    assert problems(single) == [
        "mesh-tracing:tracedNamespaces[0].revision: got 'canary' — only used with istio.revisions (one control "
        "plane serves all)"
    ]


def test_a_removed_revision_with_a_namespace_on_it_is_named() -> None:
    istio = istio_of("canary", revisions=[{"name": "1-31", "chartVersion": NEW}], tags={"default": "1-31"})
    assert problems(with_("canary", istio=istio)) == [
        "mesh-tracing:tracedNamespaces[0].revision: got 'canary' — not a tag (default) or revision (1-31) of istio",
        "mesh-tracing:istio.gateway.revision: got 'canary' — not a tag (default) or revision (1-31) of istio",
    ]


def test_the_single_form_is_unchanged() -> None:
    settings = valid(raw_settings("dev"))
    [control_plane] = revisions.control_planes(settings.istio)
    assert (control_plane.release_name, control_plane.chart_revision) == ("istiod", "")
    assert revisions.injection_label(settings.istio, None) == ("istio-injection", "enabled")
    edge = stack_settings("edge")
    assert revisions.injection_label(edge.istio, None) == ("istio.io/rev", "canary")


# --------------------------------------------------------------------------- verify and restart


def _pod(name: str, revision: str | None, owner: str = "web") -> dict[str, Any]:
    pod: dict[str, Any] = {
        "metadata": {
            "name": name,
            "namespace": "payments",
            "labels": {"pod-template-hash": "abc"},
            "ownerReferences": [{"kind": "ReplicaSet", "name": f"{owner}-abc", "controller": True}],
            "annotations": {} if revision is None else {"istio.io/rev": revision},
        },
        "spec": {"containers": [{"name": "app"}, *([{"name": "istio-proxy"}] if revision else [])]},
        "status": {"phase": "Running"},
    }
    return pod


def test_verify_names_proxies_on_another_revision() -> None:
    pods = [_pod("web-1", "1-31"), _pod("api-1", "default", "api"), _pod("old-1", "1-29", "old"), _pod("x", None)]
    check = datapath.revisions_of(pods, "1-31", ["default", "1-31"], "canary")
    assert not check.ok
    assert check.detail == (
        "expected revision 1-31; Deployment/api (1 pod(s) on default), "
        "Deployment/old (1 pod(s) on 1-29, a revision the stack no longer lists)"
    )
    assert check.fix == "make restart STACK=canary ARGS=--apply", "the stack verified"
    assert datapath.revisions_of(copy.deepcopy(pods[:1]), "1-31", ["1-31"], "canary").ok
    assert sidecars.survey_revisions(pods, "1-31") == {
        ("Deployment", "api"): ("default", ["api-1"]),
        ("Deployment", "old"): ("1-29", ["old-1"]),
    }
