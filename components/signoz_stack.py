"""SigNozStack: SigNoz whose collector accepts Envoy's Zipkin spans on 9411.

The release name is pinned (naming.SIGNOZ_RELEASE), so the collector Service name that istiod
resolves follows from settings alone. The ClickHouse password never exists as a plain string in
the program: it is a Pulumi secret from config or generated, and stays secret in state.

With `signoz.ingest` the stack is also the central SigNoz of other clusters: the collector gets a
second OTLP/HTTP receiver on its own port, exposed by the chart's collector Ingress, that accepts a
request only with the ingest key as bearer token. The key is a Secret the program creates and the
collector mounts as a file; the Helm values name the file, never the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.trace_router import TraceRouter, TraceRouterArgs
from components.trace_sink import SinkOutputs
from config.signoz import ClickHouseSettings, CollectorSettings, DeploySigNoz, IngestSettings
from config.tail_sampling import TailSamplingSettings
from kube import naming, pod_security
from kube.collector_config import INGEST_TOKEN_DIR, MeshProcessing, collector_config
from kube.network_policies import Policy
from kube.resources import COMPONENT_TYPE_PREFIX, helm_release, ingest_key_secret, namespace, network_policy
from kube.tree import merge
from versions.table import ChartId, facts

INGEST_KEY_VOLUME = "ingest-key"


@dataclass(frozen=True)
class SigNozStackArgs:
    """What SigNozStack needs: its settings section and what the rest of the stack decides for it."""

    signoz: DeploySigNoz
    mesh: MeshProcessing
    # Tail sampling's settings when it is on (the collector is then the sampler tier), else None.
    tail_sampling: TailSamplingSettings | None
    # The Service the mesh's spans go to (the collector, or the trace router).
    zipkin_service: str
    hardened_pods: bool
    network_policies: tuple[Policy, ...]
    repository: str
    clickhouse_password: pulumi.Output[str] | None = None
    ingest_key: pulumi.Output[str] | None = None


# --------------------------------------------------------------------------- pure builders


def collector_values(args: SigNozStackArgs) -> dict[str, Any]:
    signoz = args.signoz
    collector = signoz.collector
    values: dict[str, Any] = {
        # With tail sampling the trace router receives Zipkin; the collector only OTLP from it.
        "ports": {} if args.tail_sampling else {"zipkin": {"enabled": True}},
        "replicaCount": collector.replicas,
        "resources": collector.resources.to_values(),
        "autoscaling": {
            "enabled": collector.autoscaling.enabled,
            "minReplicas": collector.autoscaling.min_replicas,
            "maxReplicas": collector.autoscaling.max_replicas,
            "targetCPUUtilizationPercentage": collector.autoscaling.target_cpu_percent,
        },
        "config": collector_config(signoz, args.mesh, args.tail_sampling),
    }
    volumes, mounts = pod_security.collector_scratch(args.hardened_pods)
    if signoz.ingest is not None:
        values["ports"][naming.INGEST_PORT_NAME] = {
            "enabled": True,
            "containerPort": naming.INGEST_PORT,
            "servicePort": naming.INGEST_PORT,
            "protocol": "TCP",
        }
        values["ingress"] = ingest_ingress(signoz.ingest)
        volumes.append(
            # The image's user must read it: the default mode (0644), not a root-only one.
            {"name": INGEST_KEY_VOLUME, "secret": {"secretName": naming.INGEST_KEY_SECRET}}
        )
        mounts.append({"name": INGEST_KEY_VOLUME, "mountPath": INGEST_TOKEN_DIR, "readOnly": True})
    if volumes:
        values |= {"extraVolumes": volumes, "extraVolumeMounts": mounts}
    return values


INGEST_MAX_BODY = "16m"


def ingest_ingress(ingest: IngestSettings) -> dict[str, Any]:
    """The Ingress in front of the ingest port (TLS when `tlsSecretName` is set). Only the traces
    path is routed: the receiver is in no other pipeline. The key file it checks is a mounted
    Secret (`collector_values`)."""
    ingress: dict[str, Any] = {
        "enabled": True,
        "className": ingest.ingress_class,
        "hosts": [
            {
                "host": ingest.host,
                "paths": [{"path": naming.INGEST_PATH, "pathType": "Prefix", "port": naming.INGEST_PORT}],
            }
        ],
    }
    if ingest.tls_secret_name is not None:
        ingress["tls"] = [{"secretName": ingest.tls_secret_name, "hosts": [ingest.host]}]
    if ingest.ingress_class == "nginx":
        # ingress-nginx refuses bodies over 1 MiB by default (413, which the agent does not retry),
        # and an agent's batch of 10 000 spans can be larger even compressed.
        ingress["annotations"] = {"nginx.ingress.kubernetes.io/proxy-body-size": INGEST_MAX_BODY}
    return ingress


def clickhouse_values(clickhouse: ClickHouseSettings, password: pulumi.Input[str]) -> dict[str, Any]:
    persistence: dict[str, Any] = {"size": clickhouse.persistence_size}
    if clickhouse.storage_class:
        persistence["storageClass"] = clickhouse.storage_class
    return {
        "password": password,
        "persistence": persistence,
        "layout": {"shardsCount": clickhouse.shards, "replicasCount": clickhouse.replicas},
        "zookeeper": {
            "replicaCount": clickhouse.zookeeper_replicas,
            "resources": clickhouse.zookeeper_resources.to_values(),
        },
        "resources": clickhouse.resources.to_values(),
        "clickhouseOperator": {
            # Read by the operator Deployment's template though the chart's values.yaml omits it.
            "resources": clickhouse.operator_resources.to_values(),
            "metricsExporter": {"resources": clickhouse.operator_resources.to_values()},
        },
    }


def signoz_values(args: SigNozStackArgs, password: pulumi.Input[str]) -> dict[str, Any]:
    signoz = args.signoz
    values: dict[str, Any] = {
        "otelCollector": collector_values(args),
        "clickhouse": clickhouse_values(signoz.clickhouse, password),
        # The Job's containers and the collector's init container that waits for the migrations.
        "telemetryStoreMigrator": {"resources": signoz.migrator_resources.to_values()},
    }
    ui: dict[str, Any] = {"resources": signoz.resources.to_values()}
    if signoz.ui_host:
        ui["ingress"] = {
            "enabled": True,
            "hosts": [
                {
                    "host": signoz.ui_host,
                    "paths": [{"path": "/", "pathType": "ImplementationSpecific", "port": naming.SIGNOZ_UI_PORT}],
                }
            ],
        }
    if signoz.external_url:
        # Links in alert notifications point here instead of the chart's http://localhost:8080.
        ui["env"] = {"signoz_alertmanager_signoz_external__url": signoz.external_url}
    values["signoz"] = ui
    # The stack's own chart values last, so they win where the settings leave a value to the chart.
    return merge(merge(values, pod_security.signoz_contexts(args.hardened_pods)), signoz.extra_values)


def collector_pdb_spec(collector: CollectorSettings) -> dict[str, Any] | None:
    """A PDB for the collector (the chart has none), only where it can be honoured: ≥ 2 replicas."""
    if collector.min_available_replicas < 2:
        return None
    return {"maxUnavailable": 1, "selector": {"matchLabels": naming.collector_selector_labels()}}


def sink_outputs(args: SigNozStackArgs) -> SinkOutputs:
    """Where the mesh's spans go and what operators reach, for the stack outputs."""
    signoz = args.signoz
    return {
        "zipkinEndpoint": naming.zipkin_url(args.zipkin_service),
        "otlpGrpcEndpoint": naming.otlp_grpc_endpoint(signoz),
        "otlpHttpEndpoint": naming.otlp_http_endpoint(signoz),
        "signozUiService": naming.signoz_ui_address(signoz),
        "traceRetentionDays": signoz.trace_retention_days,
        "ingestEndpoint": naming.ingest_url(signoz),
        "tracesDestination": {
            "mode": "deploy",
            "store": f"ClickHouse of release {naming.SIGNOZ_RELEASE} in namespace {signoz.namespace}",
            "via": f"{args.zipkin_service}:{naming.ZIPKIN_PORT}",
        },
    }


# --------------------------------------------------------------------------- component


class SigNozStack(pulumi.ComponentResource):
    """Namespace (no sidecars) → signoz release; collector PDB; generated ClickHouse password;
    with tail sampling, the trace router."""

    def __init__(self, name: str, args: SigNozStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{COMPONENT_TYPE_PREFIX}SigNozStack", name, None, opts)
        signoz = args.signoz
        keep = pulumi.ResourceOptions(parent=self, protect=signoz.protect)

        password = args.clickhouse_password
        if password is None:
            generated = random.RandomPassword(
                f"{name}-clickhouse-password",
                length=32,
                special=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            password = pulumi.Output.secret(generated.result)
        level = pod_security.signoz_namespace_level(remote=False)
        ns = namespace(
            f"{name}-namespace",
            signoz.namespace,
            naming.NO_INJECTION_LABELS | pod_security.namespace_labels(level),
            keep,
        )
        for found in args.network_policies:
            network_policy(
                f"{name}-{found.name}", found, namespace=ns.metadata.name, opts=pulumi.ResourceOptions(parent=self)
            )
        waits_for: list[pulumi.Resource] = []
        if signoz.ingest is not None and args.ingest_key is not None:
            # The collector mounts it at start: the Secret exists before the release.
            waits_for.append(ingest_key_secret(f"{name}-ingest-key", ns.metadata.name, args.ingest_key, self))
        helm_release(
            f"{name}-release",
            chart=ChartId.SIGNOZ,
            version=signoz.chart_version,
            release_name=naming.SIGNOZ_RELEASE,
            namespace=ns.metadata.name,
            values=signoz_values(args, password),
            repository=args.repository,
            opts=pulumi.ResourceOptions.merge(keep, pulumi.ResourceOptions(depends_on=waits_for)),
        )
        if args.tail_sampling is not None:
            router = TraceRouterArgs(
                tail_sampling=args.tail_sampling,
                mesh=args.mesh,
                namespace=signoz.namespace,
                image=router_image(signoz.chart_version),
            )
            TraceRouter(f"{name}-trace-router", router, ns.metadata.name, opts=pulumi.ResourceOptions(parent=self))
        pdb_spec = collector_pdb_spec(signoz.collector)
        if pdb_spec is not None:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-collector-pdb",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=naming.collector_service_name(), namespace=ns.metadata.name),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=pdb_spec["maxUnavailable"],
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=pdb_spec["selector"]["matchLabels"]),
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.outputs = sink_outputs(args)
        self.ready: list[pulumi.Resource] = [self]
        self.register_outputs(dict(self.outputs))


def router_image(chart_version: str) -> str:
    """The collector image the signoz chart runs, so both tiers are one build."""
    collector = facts(ChartId.SIGNOZ, chart_version)["collector"]
    return f"{collector['image']}:{collector['image_tag']}"
