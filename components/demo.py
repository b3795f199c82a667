"""DemoWorkload: a small traced application and a bounded load generator (`mesh-tracing:demo`).

A fresh cluster has no traffic, so SigNoz and Kiali open empty. With `demo: true` the program creates
the namespace `mesh-tracing-demo` with the stack's injection label, Istio's Bookinfo services
(productpage → details, productpage → reviews → ratings) and a fortio load generator calling
productpage at about one request a second. Every hop goes through two sidecars, so each request
becomes a trace of eight spans from five services, and Kiali draws the same five nodes.

Images are pinned by exact tag in `demo_images` (the one place to change when bumping them):
Bookinfo's come from the stack's Istio hub (istio.hub) with the tag of the Istio version behind the
`default` tag (versions/istio/<version>/release.yaml), fortio's from Docker Hub. Every container,
the injected sidecars included, has requests and limits sized for a laptop cluster, so the
walk-through's sizing table (docs/walkthrough.md) holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from config.istio import IstioSettings
from config.types import ResourceList, Resources
from kube import naming, pod_security, revisions
from kube.resources import COMPONENT_TYPE_PREFIX, namespace
from versions.table import istio_release

NAMESPACE = naming.DEMO_NAMESPACE
PORT = 9080
# Istio takes a Service port's protocol from its name (`http`, `http-*`); unnamed ports are sniffed.
PORT_NAME = "http"
ENTRY_APP = "productpage"
ENTRY_PATH = "/productpage"
LOADGEN_APP = "loadgen"


@dataclass(frozen=True)
class Image:
    repository: str
    tag: str

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"


# Bookinfo's images as Istio's own sample manifest names them (samples/bookinfo/platform/kube/
# bookinfo.yaml); reviews is v2: v1 is built with ENABLE_RATINGS=false and never calls ratings.
# Bumping the Bookinfo tag: re-check productpage's command below against the image's Dockerfile.
BOOKINFO_IMAGES = {
    "productpage": "examples-bookinfo-productpage-v1",
    "details": "examples-bookinfo-details-v1",
    "reviews": "examples-bookinfo-reviews-v2",
    "ratings": "examples-bookinfo-ratings-v1",
}
# fortio's tag is the image its release workflow pushes for git tag v1.75.2.
LOADGEN_IMAGE = Image("docker.io/fortio/fortio", "1.75.2")


def demo_images(istio: IstioSettings) -> dict[str, Image]:
    """Every demo image by app label: Bookinfo's from the stack's Istio hub, at the Bookinfo tag of the
    Istio version behind the `default` tag."""
    tag = istio_release(revisions.default_plane(istio).chart_version).bookinfo_tag
    images = {app: Image(f"{istio.hub}/{image}", tag) for app, image in BOOKINFO_IMAGES.items()}
    return {**images, LOADGEN_APP: LOADGEN_IMAGE}


@dataclass(frozen=True)
class DemoArgs:
    """What DemoWorkload needs from the rest of the stack."""

    # Every image by app label (`demo_images`).
    images: Mapping[str, Image]
    # The injection label of the demo namespace (it follows the `default` tag).
    injection_label: tuple[str, str]
    # Kiali's "Traces in SigNoz" links point under it (`kiali.signozUrl`); None: no links.
    signoz_url: str | None
    kiali_enabled: bool


def _size(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> Resources:
    return Resources(
        requests=ResourceList(cpu=cpu, memory=memory), limits=ResourceList(cpu=cpu_limit, memory=memory_limit)
    )


@dataclass(frozen=True)
class DemoApp:
    """One Bookinfo service: a Service `<name>` and a Deployment `<name>-<version>`."""

    name: str
    version: str
    resources: Resources
    calls: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    command: tuple[str, ...] = ()
    # (volume name, mount path) of writable emptyDirs the image expects.
    scratch: tuple[tuple[str, str], ...] = ()


# Requests are estimates for ~1 request/s (not measured on a cluster); limits leave room for start-up,
# which matters most for the JVM in reviews.
DEMO_APPS: tuple[DemoApp, ...] = (
    DemoApp(
        "productpage",
        "v1",
        _size("20m", "128Mi", "500m", "384Mi"),
        calls=("details", "reviews"),
        # The image's own command with 2 gunicorn workers instead of 8: each worker is a Python
        # process of its own, and one request a second needs no more.
        command=("gunicorn", "-b", f"[::]:{PORT}", "productpage:app", "-w", "2", "--keep-alive", "2", "-k", "gevent"),
        scratch=(("tmp", "/tmp"),),
    ),
    DemoApp("details", "v1", _size("10m", "32Mi", "200m", "128Mi")),
    DemoApp(
        "reviews",
        "v2",
        _size("50m", "256Mi", "1", "512Mi"),
        calls=("ratings",),
        # Stated although the v2 image defaults to it: without it reviews never calls ratings.
        env=(("ENABLE_RATINGS", "true"), ("LOG_DIR", "/tmp/logs")),
        scratch=(("tmp", "/tmp"), ("wlp-output", "/opt/ibm/wlp/output")),
    ),
    DemoApp("ratings", "v1", _size("10m", "48Mi", "200m", "128Mi")),
)
LOADGEN_VERSION = "v1"
LOADGEN_RESOURCES = _size("10m", "16Mi", "100m", "64Mi")

# The injected istio-proxy of every demo pod, set per pod by annotation instead of the mesh-wide
# default (100m/128Mi requested, 2 CPU/1Gi limit), which would make the sidecars the demo's largest cost.
SIDECAR_RESOURCES = _size("10m", "64Mi", "500m", "256Mi")

# The load: fortio at LOAD_QPS for LOAD_DURATION, started every five minutes. Each run is bounded
# (and killed at LOAD_DEADLINE_SECONDS), runs never overlap, and a restarted or missed run only
# delays the next one: the demo never adds more than about one request a second.
LOAD_QPS = 1
LOAD_DURATION = "4m"
LOAD_SCHEDULE = "*/5 * * * *"
LOAD_DEADLINE_SECONDS = 280
LOAD_RETRIES = 1

# Bookinfo's own hardening (samples/bookinfo/platform/kube/bookinfo-psa.yaml); all images run as non-root.
_SECURITY_CONTEXT: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
}
# fortio's image is FROM scratch without a USER: give it an unprivileged one.
_NOBODY = 65534


# --------------------------------------------------------------------------- pure builders


def app_labels(app: str, version: str) -> dict[str, str]:
    """`app` and `version`: Istio's canonical service and revision, Kiali's app and version, and the
    `<app>` of the service name on sidecar spans."""
    return {"app": app, "version": version}


def entrypoint() -> str:
    """host:port of the service the load generator calls."""
    return f"{naming.service_fqdn(ENTRY_APP, NAMESPACE)}:{PORT}"


def span_services() -> list[str]:
    """The service names the demo's spans arrive under in SigNoz, caller first."""
    return [naming.sidecar_service_name(app, NAMESPACE) for app in (LOADGEN_APP, *(a.name for a in DEMO_APPS))]


def link_annotations(args: DemoArgs, app: str) -> dict[str, str]:
    """Kiali's "Traces in SigNoz" link for `app`, when `kiali.signozUrl` says where SigNoz is."""
    link = naming.signoz_service_link(args.signoz_url, app, NAMESPACE)
    return {naming.SIGNOZ_ANNOTATION: link} if link else {}


def sidecar_annotations(*, native: bool = False) -> dict[str, str]:
    """Per-pod sidecar resources (istiod's injection template reads these four annotations; once any
    is set, limits come only from the *Limit ones). `native` makes istio-proxy a Kubernetes native
    sidecar whatever the kubelet version, so a Job's pod completes when its container exits."""
    requests, limits = SIDECAR_RESOURCES.requests, SIDECAR_RESOURCES.limits
    assert requests.cpu and requests.memory and limits.cpu and limits.memory  # set in SIDECAR_RESOURCES
    annotations = {
        "sidecar.istio.io/proxyCPU": requests.cpu,
        "sidecar.istio.io/proxyMemory": requests.memory,
        "sidecar.istio.io/proxyCPULimit": limits.cpu,
        "sidecar.istio.io/proxyMemoryLimit": limits.memory,
    }
    if native:
        annotations["sidecar.istio.io/nativeSidecar"] = "true"
    return annotations


def _metadata(name: str, labels: Mapping[str, str], annotations: Mapping[str, str]) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": NAMESPACE, "labels": dict(labels)}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return metadata


def service_manifest(args: DemoArgs, app: DemoApp) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(app.name, {"app": app.name}, link_annotations(args, app.name)),
        "spec": {
            "selector": {"app": app.name},
            "ports": [{"name": PORT_NAME, "port": PORT, "targetPort": PORT_NAME}],
        },
    }


def app_container(app: DemoApp, image: Image) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": app.name,
        "image": image.reference,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": PORT_NAME, "containerPort": PORT}],
        # Every Bookinfo service answers /health without calling another one.
        "readinessProbe": {"httpGet": {"path": "/health", "port": PORT_NAME}, "periodSeconds": 5},
        "resources": app.resources.to_values(),
        "securityContext": _SECURITY_CONTEXT,
    }
    if app.command:
        container["command"] = list(app.command)
    if app.env:
        container["env"] = [{"name": name, "value": value} for name, value in app.env]
    if app.scratch:
        container["volumeMounts"] = [{"name": name, "mountPath": path} for name, path in app.scratch]
    return container


def deployment_manifest(args: DemoArgs, app: DemoApp) -> dict[str, Any]:
    labels = app_labels(app.name, app.version)
    # Kiali takes a Deployment's display details (the link) from its pod template, and lists the
    # Deployment's own annotations as the workload's: the link goes on both.
    link = link_annotations(args, app.name)
    pod: dict[str, Any] = {"containers": [app_container(app, args.images[app.name])]}
    if app.scratch:
        pod["volumes"] = [{"name": name, "emptyDir": {}} for name, _ in app.scratch]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(f"{app.name}-{app.version}", labels, link),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels, "annotations": sidecar_annotations() | link}, "spec": pod},
        },
    }


def load_args() -> list[str]:
    return [
        "load",
        "-qps",
        str(LOAD_QPS),
        "-c",
        "1",
        "-t",
        LOAD_DURATION,
        # productpage may still be starting when a run begins: keep going instead of aborting.
        "-allow-initial-errors",
        f"http://{entrypoint()}{ENTRY_PATH}",
    ]


def loadgen_manifest(args: DemoArgs) -> dict[str, Any]:
    """A CronJob: one bounded fortio run every five minutes, never two at once."""
    labels = app_labels(LOADGEN_APP, LOADGEN_VERSION)
    container = {
        "name": "fortio",
        "image": args.images[LOADGEN_APP].reference,
        "imagePullPolicy": "IfNotPresent",
        "args": load_args(),
        "resources": LOADGEN_RESOURCES.to_values(),
        "securityContext": _SECURITY_CONTEXT | {"runAsUser": _NOBODY, "runAsGroup": _NOBODY},
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        # Kiali takes a CronJob's display details from its own annotations.
        "metadata": _metadata(LOADGEN_APP, labels, link_annotations(args, LOADGEN_APP)),
        "spec": {
            "schedule": LOAD_SCHEDULE,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 120,
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 1,
            "jobTemplate": {
                "metadata": {"labels": labels},
                "spec": {
                    "backoffLimit": LOAD_RETRIES,
                    "activeDeadlineSeconds": LOAD_DEADLINE_SECONDS,
                    "template": {
                        "metadata": {"labels": labels, "annotations": sidecar_annotations(native=True)},
                        "spec": {"restartPolicy": "Never", "containers": [container]},
                    },
                },
            },
        },
    }


def demo_summary(args: DemoArgs) -> dict[str, Any]:
    """The `demo` stack output: where the demo runs, what to call, where to look."""
    return {
        "namespace": NAMESPACE,
        "entrypoint": entrypoint(),
        "path": ENTRY_PATH,
        "load": f"{LOAD_QPS} request/s for {LOAD_DURATION}, every 5 minutes ({LOAD_SCHEDULE})",
        "spanServices": span_services(),
        "signozLink": naming.signoz_service_link(args.signoz_url, ENTRY_APP, NAMESPACE),
        "kialiGraphPath": naming.kiali_graph_path(NAMESPACE) if args.kiali_enabled else None,
    }


# --------------------------------------------------------------------------- component


class DemoWorkload(pulumi.ComponentResource):
    """Namespace after the mesh; Services and Deployments in it; the load generator last."""

    def __init__(
        self,
        name: str,
        args: DemoArgs,
        mesh_ready: Sequence[pulumi.Resource],
        collector_ready: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(f"{COMPONENT_TYPE_PREFIX}DemoWorkload", name, None, opts)
        # Pods are created only once istiod's injector serves, or they would start without sidecars.
        ns = namespace(
            f"{name}-namespace",
            NAMESPACE,
            dict([args.injection_label]) | pod_security.namespace_labels(pod_security.MESHED_LEVEL),
            pulumi.ResourceOptions(parent=self, depends_on=list(mesh_ready)),
        )
        # Fixed names: a replacement must delete the old object first.
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[*mesh_ready, ns], delete_before_replace=True)
        apps: list[pulumi.Resource] = []
        for app in DEMO_APPS:
            service = service_manifest(args, app)
            k8s.core.v1.Service(
                f"{name}-{app.name}-service", metadata=service["metadata"], spec=service["spec"], opts=in_namespace
            )
            deployment = deployment_manifest(args, app)
            apps.append(
                k8s.apps.v1.Deployment(
                    f"{name}-{app.name}", metadata=deployment["metadata"], spec=deployment["spec"], opts=in_namespace
                )
            )
        # Load starts once the services answer and the collector takes spans: a bounded run spent
        # before then would leave nothing to see.
        loadgen = loadgen_manifest(args)
        k8s.batch.v1.CronJob(
            f"{name}-{LOADGEN_APP}",
            metadata=loadgen["metadata"],
            spec=loadgen["spec"],
            opts=pulumi.ResourceOptions.merge(
                in_namespace, pulumi.ResourceOptions(depends_on=[*apps, *collector_ready])
            ),
        )
        self.summary = demo_summary(args)
        self.register_outputs(self.summary)
