"""Istio control planes and revision tags: which istiod releases run, and which one injects each pod.

A stack has either one control plane (`istio.chartVersion`, optionally `istio.revision`) or several,
for a canary upgrade (`istio.revisions` with `istio.tags`). Everything that depends on that choice is
derived here, once, from the settings: the releases, the tag objects, the base chart's default
revision, each namespace's label and the revision its workloads end up on.

How injection is routed, so that exactly one control plane injects each pod:
- a namespace labelled `istio.io/rev=<tag or revision>` goes to that tag's or revision's injector;
  `istio-injection=enabled` (and no label on a gateway pod) goes to the injector of the `default` tag;
- a revisioned istiod's own injector selects only `istio.io/rev=<its revision>`;
- the unrevisioned istiod (revision `default`) also selects `istio-injection=enabled`. Its own
  injector is on exactly while the `default` tag points at it; once the tag points elsewhere, its
  webhooks are turned off (`global.operatorManageWebhooks`, as istioctl deactivates them) and the
  program's `default` tag object serves those namespaces. The tag object is created before the
  release turns its webhooks off, so no pod is created without an injector; in the moment both
  exist, Istio's injector skips a pod that is already injected, so none is injected twice.

Tag objects (a MutatingWebhookConfiguration and a Service per tag, as the istiod chart's
revision-tags templates render them) have one owner, the program, so moving a tag is an in-place
update of the same objects, never a change of Helm owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.istio import DEFAULT_REVISION, IstioSettings
from config.stack import StackSettings
from kube import naming

ISTIOD_RELEASE = "istiod"
INJECTION_PATH = "/inject"
REVISION_LABEL = "istio.io/rev"
TAG_LABEL = "istio.io/tag"
LEGACY_INJECTION_LABEL = ("istio-injection", "enabled")


@dataclass(frozen=True)
class ControlPlane:
    """One istiod release."""

    name: str  # the revision name; `default` for the unrevisioned control plane
    chart_version: str
    chart_revision: str  # istiod's chart value `revision`: "" for the unrevisioned one
    release_name: str  # `istiod` for the stack's first control plane, else `istiod-<name>`
    # The Pulumi resource name suffix: unchanged for the release `istiod`, so adopting it into
    # `istio.revisions` neither deletes nor recreates it.
    resource_suffix: str

    @property
    def service(self) -> str:
        """istiod's Service (and Deployment) name."""
        return f"istiod-{self.chart_revision}" if self.chart_revision else "istiod"

    @property
    def mesh_configmap(self) -> str:
        return f"istio-{self.chart_revision}" if self.chart_revision else "istio"

    @property
    def annotation(self) -> str:
        """What the injector writes into `istio.io/rev` of every pod it injects."""
        return self.chart_revision or DEFAULT_REVISION


def control_planes(istio: IstioSettings) -> list[ControlPlane]:
    if istio.revisions is None:
        name = istio.revision or DEFAULT_REVISION
        return [ControlPlane(name, istio.chart_version, istio.revision or "", ISTIOD_RELEASE, ISTIOD_RELEASE)]
    planes = []
    for entry in istio.revisions:
        adopted = entry.name == (istio.revision or DEFAULT_REVISION)
        unrevisioned = adopted and istio.revision is None
        planes.append(
            ControlPlane(
                name=entry.name,
                chart_version=entry.chart_version,
                chart_revision="" if unrevisioned else entry.name,
                release_name=ISTIOD_RELEASE if adopted else f"{ISTIOD_RELEASE}-{entry.name}",
                resource_suffix=ISTIOD_RELEASE if adopted else f"{ISTIOD_RELEASE}-{entry.name}",
            )
        )
    return planes


def plane(istio: IstioSettings, name: str) -> ControlPlane:
    return next(p for p in control_planes(istio) if p.name == name)


def default_plane(istio: IstioSettings) -> ControlPlane:
    """The control plane behind the `default` tag (the only one in the single form)."""
    if istio.revisions is None:
        return control_planes(istio)[0]
    return plane(istio, istio.tags[DEFAULT_REVISION])


def resolve(istio: IstioSettings, revision: str | None) -> ControlPlane:
    """The control plane that injects a namespace (or gateway) with this `revision` setting."""
    if istio.revisions is None or revision is None or revision == DEFAULT_REVISION:
        return default_plane(istio)
    return plane(istio, istio.tags.get(revision, revision))


def injection_label(istio: IstioSettings, revision: str | None) -> tuple[str, str]:
    """The namespace label that sends its pods to the right injector."""
    if istio.revisions is None:
        return (REVISION_LABEL, istio.revision) if istio.revision else LEGACY_INJECTION_LABEL
    if revision is None or revision == DEFAULT_REVISION:
        return LEGACY_INJECTION_LABEL
    return (REVISION_LABEL, revision)


def meshed_namespaces(settings: StackSettings) -> dict[str, str | None]:
    """Every namespace the program labels for injection, with its `revision` setting: the traced ones,
    then the demo's (which follows the `default` tag)."""
    found: dict[str, str | None] = {traced.name: traced.revision for traced in settings.traced_namespaces}
    if settings.demo:
        found[naming.DEMO_NAMESPACE] = None
    return found


def gateway_revision_value(istio: IstioSettings) -> str:
    """The gateway chart's `revision`: its pods carry `istio.io/rev=<value>` when it is not empty."""
    if istio.revisions is None:
        return istio.revision or ""
    revision = istio.gateway.revision
    return "" if revision is None or revision == DEFAULT_REVISION else revision


def own_injector_off(istio: IstioSettings, control_plane: ControlPlane) -> bool:
    """The unrevisioned control plane's own injector is off while the `default` tag points elsewhere."""
    return (
        istio.revisions is not None
        and not control_plane.chart_revision
        and istio.tags[DEFAULT_REVISION] != control_plane.name
    )


def rendered_tags(istio: IstioSettings) -> dict[str, ControlPlane]:
    """The tags the program renders objects for, and the control plane each points at: every tag but
    a `default` that points at the unrevisioned control plane, whose own injector serves it."""
    tags = {}
    for tag, target in sorted(istio.tags.items()):
        control_plane = plane(istio, target)
        if tag == DEFAULT_REVISION and not control_plane.chart_revision:
            continue
        tags[tag] = control_plane
    return tags


# --------------------------------------------------------------------------- tag objects


def _webhook(prefix: str, control_plane: ControlPlane, namespace: str) -> dict[str, Any]:
    return {
        "name": f"{prefix}sidecar-injector.istio.io",
        "clientConfig": {
            "service": {"name": control_plane.service, "namespace": namespace, "path": INJECTION_PATH, "port": 443}
        },
        "sideEffects": "None",
        "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
        "failurePolicy": "Fail",
        "reinvocationPolicy": "Never",
        "admissionReviewVersions": ["v1"],
    }


def _expression(key: str, operator: str, values: list[str] | None = None) -> dict[str, Any]:
    expression: dict[str, Any] = {"key": key, "operator": operator}
    if values is not None:
        expression["values"] = values
    return expression


def tag_webhooks(tag: str, control_plane: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    """The webhooks of a tag's MutatingWebhookConfiguration, as the istiod chart's
    templates/revision-tags-mwc.yaml renders them (a `default` tag also takes the namespaces labelled
    istio-injection=enabled and the pods that ask for injection without a revision)."""
    not_disabled = _expression("sidecar.istio.io/inject", "NotIn", ["false"])
    webhooks = [
        {
            **_webhook("rev.namespace.", control_plane, namespace),
            "namespaceSelector": {
                "matchExpressions": [
                    _expression(REVISION_LABEL, "In", [tag]),
                    _expression("istio-injection", "DoesNotExist"),
                ]
            },
            "objectSelector": {"matchExpressions": [not_disabled]},
        },
        {
            **_webhook("rev.object.", control_plane, namespace),
            "namespaceSelector": {
                "matchExpressions": [
                    _expression(REVISION_LABEL, "DoesNotExist"),
                    _expression("istio-injection", "DoesNotExist"),
                ]
            },
            "objectSelector": {"matchExpressions": [not_disabled, _expression(REVISION_LABEL, "In", [tag])]},
        },
    ]
    if tag == DEFAULT_REVISION:
        webhooks += [
            {
                **_webhook("namespace.", control_plane, namespace),
                "namespaceSelector": {"matchExpressions": [_expression("istio-injection", "In", ["enabled"])]},
                "objectSelector": {"matchExpressions": [not_disabled]},
            },
            {
                **_webhook("object.", control_plane, namespace),
                "namespaceSelector": {
                    "matchExpressions": [
                        _expression("istio-injection", "DoesNotExist"),
                        _expression(REVISION_LABEL, "DoesNotExist"),
                    ]
                },
                "objectSelector": {
                    "matchExpressions": [
                        _expression("sidecar.istio.io/inject", "In", ["true"]),
                        _expression(REVISION_LABEL, "DoesNotExist"),
                    ]
                },
            },
        ]
    return webhooks


def tag_webhook_name(tag: str, namespace: str) -> str:
    suffix = "" if namespace == "istio-system" else f"-{namespace}"
    return f"istio-revision-tag-{tag}{suffix}"


def tag_labels(tag: str, control_plane: ControlPlane) -> dict[str, str]:
    """The labels istiod looks for: it patches the CA bundle into webhooks of its own `istio.io/rev`."""
    return {
        TAG_LABEL: tag,
        REVISION_LABEL: control_plane.annotation,
        "app": "sidecar-injector",
        "app.kubernetes.io/name": "istiod",
        "app.kubernetes.io/managed-by": "mesh-tracing",
    }


def tag_service_name(tag: str) -> str:
    return f"istiod-revision-tag-{tag}"


def tag_service_spec(control_plane: ControlPlane) -> dict[str, Any]:
    """The tag's Service (templates/revision-tags-svc.yaml): istiod's ports, selecting the revision's pods."""
    return {
        "ports": [
            {"port": 15010, "name": "grpc-xds", "protocol": "TCP"},
            {"port": 15012, "name": "https-dns", "protocol": "TCP"},
            {"port": 443, "name": "https-webhook", "targetPort": 15017, "protocol": "TCP"},
            {"port": 15014, "name": "http-monitoring", "protocol": "TCP"},
        ],
        # The unrevisioned istiod is told apart by `istio: pilot` (its pods carry istio.io/rev=default too).
        "selector": {"app": "istiod", REVISION_LABEL: control_plane.chart_revision}
        if control_plane.chart_revision
        else {"app": "istiod", "istio": "pilot"},
    }
