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

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.trace_router import TraceRouter
from config.stack import StackSettings
from kube import naming, network_policies, pod_security
from kube.collector_config import INGEST_TOKEN_DIR, collector_config
from kube.resources import COMPONENT_TYPE_PREFIX, helm_release, namespace, network_policy, secret
from kube.tree import merge
from kube.versions import ChartId

# Namespaces labelled so: ClickHouse, ZooKeeper and the schema-migration Jobs must not get sidecars
# (a sidecar keeps a Job's pod running forever and intercepts ClickHouse's inter-node traffic).
NO_INJECTION_LABELS = {"istio-injection": "disabled"}
INGEST_KEY_VOLUME = "ingest-key"


# --------------------------------------------------------------------------- pure builders


def collector_values(settings: StackSettings) -> dict[str, Any]:
    collector = settings.signoz.collector
    values: dict[str, Any] = {
        # With tail sampling the trace router receives Zipkin; the collector only OTLP from it.
        "ports": {} if settings.tail_sampling.enabled else {"zipkin": {"enabled": True}},
        "replicaCount": collector.replicas,
        "resources": collector.resources.to_values(),
        "autoscaling": {
            "enabled": collector.autoscaling.enabled,
            "minReplicas": collector.autoscaling.min_replicas,
            "maxReplicas": collector.autoscaling.max_replicas,
            "targetCPUUtilizationPercentage": collector.autoscaling.target_cpu_percent,
        },
        "config": collector_config(settings),
    }
    volumes, mounts = pod_security.collector_scratch(settings)
    if settings.signoz.ingest is not None:
        values["ports"][naming.INGEST_PORT_NAME] = {
            "enabled": True,
            "containerPort": naming.INGEST_PORT,
            "servicePort": naming.INGEST_PORT,
            "protocol": "TCP",
        }
        values["ingress"] = ingest_ingress(settings)
        volumes.append(
            # The image's user must read it: the default mode (0644), not a root-only one.
            {"name": INGEST_KEY_VOLUME, "secret": {"secretName": naming.INGEST_KEY_SECRET}}
        )
        mounts.append({"name": INGEST_KEY_VOLUME, "mountPath": INGEST_TOKEN_DIR, "readOnly": True})
    if volumes:
        values |= {"extraVolumes": volumes, "extraVolumeMounts": mounts}
    return values


INGEST_MAX_BODY = "16m"


def ingest_ingress(settings: StackSettings) -> dict[str, Any]:
    """The Ingress in front of the ingest port (TLS when `tlsSecretName` is set). Only the traces
    path is routed: the receiver is in no other pipeline. The key file it checks is a mounted
    Secret (`collector_values`)."""
    ingest = settings.signoz.ingest
    assert ingest is not None
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


def clickhouse_values(settings: StackSettings, password: pulumi.Input[str]) -> dict[str, Any]:
    clickhouse = settings.signoz.clickhouse
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


def signoz_values(settings: StackSettings, password: pulumi.Input[str]) -> dict[str, Any]:
    signoz = settings.signoz
    values: dict[str, Any] = {
        "otelCollector": collector_values(settings),
        "clickhouse": clickhouse_values(settings, password),
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
    return merge(values, pod_security.signoz_contexts(settings))


def collector_pdb_spec(settings: StackSettings) -> dict[str, Any] | None:
    """A PDB for the collector (the chart has none), only where it can be honoured: ≥ 2 replicas."""
    if settings.signoz.collector.min_available_replicas < 2:
        return None
    return {"maxUnavailable": 1, "selector": {"matchLabels": naming.collector_selector_labels()}}


# --------------------------------------------------------------------------- component


def ingest_key_secret(
    component: pulumi.ComponentResource, name: str, namespace: pulumi.Input[str], key: pulumi.Output[str]
) -> pulumi.Resource:
    """The Secret holding signozIngestKey, on either side: the central collector mounts it as a
    file, the remote agent reads it into its env. Pods read it at start: releases wait for it."""
    return secret(
        f"{name}-ingest-key",
        name=naming.INGEST_KEY_SECRET,
        namespace=namespace,
        string_data={naming.INGEST_KEY_SECRET_KEY: key},
        opts=pulumi.ResourceOptions(parent=component),
    )


class SigNozStack(pulumi.ComponentResource):
    """Namespace (no sidecars) → signoz release; collector PDB; generated ClickHouse password."""

    def __init__(
        self,
        name: str,
        settings: StackSettings,
        clickhouse_password: pulumi.Output[str] | None,
        ingest_key: pulumi.Output[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(f"{COMPONENT_TYPE_PREFIX}SigNozStack", name, None, opts)
        signoz = settings.signoz
        keep = pulumi.ResourceOptions(parent=self, protect=signoz.protect)

        if clickhouse_password is None:
            generated = random.RandomPassword(
                f"{name}-clickhouse-password",
                length=32,
                special=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            clickhouse_password = pulumi.Output.secret(generated.result)
        labels = NO_INJECTION_LABELS | pod_security.namespace_labels(pod_security.signoz_namespace_level(settings))
        ns = namespace(f"{name}-namespace", signoz.namespace, labels, keep)
        if network_policies.enabled(settings):
            for found in network_policies.signoz_policies(settings):
                network_policy(
                    f"{name}-{found.name}", found, namespace=ns.metadata.name, opts=pulumi.ResourceOptions(parent=self)
                )
        waits_for: list[pulumi.Resource] = []
        if signoz.ingest is not None:
            assert ingest_key is not None  # settings require signozIngestKey with signoz.ingest
            # The collector mounts it at start: the Secret exists before the release.
            waits_for.append(ingest_key_secret(self, name, ns.metadata.name, ingest_key))
        helm_release(
            f"{name}-release",
            chart=ChartId.SIGNOZ,
            version=signoz.chart_version,
            release_name=naming.SIGNOZ_RELEASE,
            namespace=ns.metadata.name,
            values=signoz_values(settings, clickhouse_password),
            repository=settings.repository_of(ChartId.SIGNOZ),
            opts=pulumi.ResourceOptions.merge(keep, pulumi.ResourceOptions(depends_on=waits_for)),
        )
        if settings.tail_sampling.enabled:
            TraceRouter(f"{name}-trace-router", settings, ns.metadata.name, opts=pulumi.ResourceOptions(parent=self))
        pdb_spec = collector_pdb_spec(settings)
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

        self.zipkin_endpoint = naming.zipkin_url(settings)
        self.otlp_grpc_endpoint = naming.otlp_grpc_endpoint(signoz)
        self.otlp_http_endpoint = naming.otlp_http_endpoint(signoz)
        self.ui_service = f"{naming.service_fqdn(naming.signoz_ui_service(), signoz.namespace)}:{naming.SIGNOZ_UI_PORT}"
        self.trace_retention_days = signoz.trace_retention_days
        self.ingest_endpoint = naming.ingest_url(signoz)
        self.traces_destination = {
            "mode": "deploy",
            "store": f"ClickHouse of release {naming.SIGNOZ_RELEASE} in namespace {signoz.namespace}",
            "via": f"{naming.zipkin_service_fqdn(settings)}:{naming.ZIPKIN_PORT}",
        }
        self.register_outputs(
            {
                "zipkinEndpoint": self.zipkin_endpoint,
                "otlpGrpcEndpoint": self.otlp_grpc_endpoint,
                "otlpHttpEndpoint": self.otlp_http_endpoint,
                "uiService": self.ui_service,
                "traceRetentionDays": self.trace_retention_days,
                "ingestEndpoint": self.ingest_endpoint,
                "tracesDestination": self.traces_destination,
            }
        )
