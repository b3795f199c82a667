"""TraceRouter (`tailSampling.enabled`): the tier in front of the samplers that keeps each trace whole.

Tail sampling decides a trace once all its spans are in, so every span of a trace must reach the same
sampler. The signoz chart has one collector Deployment (the samplers), so the program adds the
router: a Deployment of the same collector image, without OpAMP, that receives Envoy's Zipkin spans,
runs the mesh's processors and forwards each trace by its trace ID to one collector replica
(`loadbalancing` exporter; its Kubernetes resolver watches the collector Service's EndpointSlices,
which the router's Role allows). The router is stateless and may run several replicas: consistent
hashing gives every replica the same answer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s
import yaml

from config.tail_sampling import TailSamplingSettings
from kube import naming
from kube.collector_config import HEALTH_CHECK_PORT, MeshProcessing, router_config
from kube.resources import COMPONENT_TYPE_PREFIX, service

CONFIG_FILE = "config.yaml"
CONFIG_DIR = "/conf"
# The collector image's own user (cmd/signozotelcollector/Dockerfile: USER 10001).
IMAGE_USER = 10001


# --------------------------------------------------------------------------- pure builders


@dataclass(frozen=True)
class TraceRouterArgs:
    tail_sampling: TailSamplingSettings
    # The processors the mesh's spans get (the router runs them, not the samplers).
    mesh: MeshProcessing
    # The namespace of the collector the router hands traces to (its own).
    namespace: str
    # The collector image the signoz chart runs, so both tiers are one build.
    image: str


def config_text(args: TraceRouterArgs) -> str:
    return yaml.safe_dump(router_config(args.mesh, args.namespace), sort_keys=True)


def container_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": IMAGE_USER,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def deployment_spec(args: TraceRouterArgs) -> dict[str, Any]:
    tail = args.tail_sampling
    labels = naming.trace_router_selector_labels()
    probe = {"httpGet": {"path": "/", "port": "health"}, "periodSeconds": 10}
    container = {
        "name": "router",
        "image": args.image,
        "args": [f"--config={CONFIG_DIR}/{CONFIG_FILE}"],
        "ports": [
            {"name": "zipkin", "containerPort": naming.ZIPKIN_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": naming.COLLECTOR_METRICS_PORT, "protocol": "TCP"},
            {"name": "health", "containerPort": HEALTH_CHECK_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": probe,
        "livenessProbe": probe,
        "resources": tail.router_resources.to_values(),
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}],
    }
    return {
        "replicas": tail.router_replicas,
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {
                "labels": labels,
                # A new config rolls the pods (a mounted ConfigMap is otherwise read only at start).
                "annotations": {"checksum/config": hashlib.sha256(config_text(args).encode()).hexdigest()},
            },
            "spec": {
                "serviceAccountName": naming.TRACE_ROUTER,
                "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [container],
                "volumes": [{"name": "config", "configMap": {"name": naming.TRACE_ROUTER}}],
                "topologySpreadConstraints": [
                    {
                        "maxSkew": 1,
                        "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": labels},
                    }
                ],
            },
        },
    }


def service_spec() -> dict[str, Any]:
    return {
        "type": "ClusterIP",
        "selector": naming.trace_router_selector_labels(),
        "ports": [{"name": "zipkin", "port": naming.ZIPKIN_PORT, "targetPort": "zipkin", "protocol": "TCP"}],
    }


def role_rules() -> list[dict[str, Any]]:
    """What the loadbalancing exporter's Kubernetes resolver reads (its README: EndpointSlices)."""
    return [{"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]}]


def pdb_spec(tail: TailSamplingSettings) -> dict[str, Any] | None:
    if tail.router_replicas < 2:
        return None
    return {"maxUnavailable": 1, "selector": {"matchLabels": naming.trace_router_selector_labels()}}


# --------------------------------------------------------------------------- component


class TraceRouter(pulumi.ComponentResource):
    """ServiceAccount, Role and RoleBinding → ConfigMap → Deployment, Service and PDB, in the SigNoz
    namespace."""

    def __init__(
        self,
        name: str,
        args: TraceRouterArgs,
        namespace: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(f"{COMPONENT_TYPE_PREFIX}TraceRouter", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def metadata() -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=naming.TRACE_ROUTER, namespace=namespace, labels=naming.trace_router_selector_labels()
            )

        account = k8s.core.v1.ServiceAccount(f"{name}-service-account", metadata=metadata(), opts=child)
        role = k8s.rbac.v1.Role(f"{name}-role", metadata=metadata(), rules=cast(Any, role_rules()), opts=child)
        binding = k8s.rbac.v1.RoleBinding(
            f"{name}-role-binding",
            metadata=metadata(),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="Role", name=naming.TRACE_ROUTER
            ),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=naming.TRACE_ROUTER, namespace=namespace)],
            opts=child,
        )
        config = k8s.core.v1.ConfigMap(
            f"{name}-config", metadata=metadata(), data={CONFIG_FILE: config_text(args)}, opts=child
        )
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=metadata(),
            spec=cast(Any, deployment_spec(args)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account, role, binding, config]),
        )
        service(
            f"{name}-service",
            name=naming.TRACE_ROUTER,
            namespace=namespace,
            labels=naming.trace_router_selector_labels(),
            spec=service_spec(),
            opts=child,
        )
        pdb = pdb_spec(args.tail_sampling)
        if pdb is not None:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb",
                metadata=metadata(),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=pdb["maxUnavailable"],
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=pdb["selector"]["matchLabels"]),
                ),
                opts=child,
            )
        self.service = f"{naming.service_fqdn(naming.TRACE_ROUTER, args.namespace)}:{naming.ZIPKIN_PORT}"
        self.register_outputs({"service": self.service, "deployment": deployment.metadata.name})
