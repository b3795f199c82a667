"""SigNozStack: SigNoz whose collector accepts Envoy's Zipkin spans on 9411.

The release name is pinned (naming.SIGNOZ_RELEASE), so the collector Service name that istiod
resolves follows from settings alone. The ClickHouse password never exists as a plain string in
the program: it is a Pulumi secret from config or generated, and stays secret in state.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import naming
from components.collector_config import collector_config
from components.kube import COMPONENT_TYPE_PREFIX, helm_release, namespace
from components.models import StackSettings
from components.versions import ChartId

# Namespaces labelled so: ClickHouse, ZooKeeper and the schema-migration Jobs must not get sidecars
# (a sidecar keeps a Job's pod running forever and intercepts ClickHouse's inter-node traffic).
NO_INJECTION_LABELS = {"istio-injection": "disabled"}


# --------------------------------------------------------------------------- pure builders


def collector_values(settings: StackSettings) -> dict[str, Any]:
    collector = settings.signoz.collector
    values: dict[str, Any] = {
        "ports": {"zipkin": {"enabled": True}},
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
    return values


def clickhouse_values(settings: StackSettings, password: pulumi.Input[str]) -> dict[str, Any]:
    clickhouse = settings.signoz.clickhouse
    persistence: dict[str, Any] = {"size": clickhouse.persistence_size}
    if clickhouse.storage_class:
        persistence["storageClass"] = clickhouse.storage_class
    return {
        "password": password,
        "persistence": persistence,
        "layout": {"shardsCount": clickhouse.shards, "replicasCount": clickhouse.replicas},
        "zookeeper": {"replicaCount": clickhouse.zookeeper_replicas},
        "resources": clickhouse.resources.to_values(),
    }


def signoz_values(settings: StackSettings, password: pulumi.Input[str]) -> dict[str, Any]:
    signoz = settings.signoz
    values: dict[str, Any] = {
        "otelCollector": collector_values(settings),
        "clickhouse": clickhouse_values(settings, password),
    }
    ui: dict[str, Any] = {}
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
    if ui:
        values["signoz"] = ui
    return values


def collector_pdb_spec(settings: StackSettings) -> dict[str, Any] | None:
    """A PDB for the collector (the chart has none), only where it can be honoured: ≥ 2 replicas."""
    if settings.signoz.collector.min_available_replicas < 2:
        return None
    return {"maxUnavailable": 1, "selector": {"matchLabels": naming.collector_selector_labels()}}


# --------------------------------------------------------------------------- component


class SigNozStack(pulumi.ComponentResource):
    """Namespace (no sidecars) → signoz release; collector PDB; generated ClickHouse password."""

    def __init__(
        self,
        name: str,
        settings: StackSettings,
        clickhouse_password: pulumi.Output[str] | None,
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
        ns = namespace(f"{name}-namespace", signoz.namespace, NO_INJECTION_LABELS, keep)
        helm_release(
            f"{name}-release",
            chart=ChartId.SIGNOZ,
            version=signoz.chart_version,
            release_name=naming.SIGNOZ_RELEASE,
            namespace=ns.metadata.name,
            values=signoz_values(settings, clickhouse_password),
            repository=settings.chart_repository,
            opts=keep,
        )
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

        self.zipkin_endpoint = naming.zipkin_url(signoz)
        self.otlp_grpc_endpoint = naming.otlp_grpc_endpoint(signoz)
        self.otlp_http_endpoint = naming.otlp_http_endpoint(signoz)
        self.ui_service = f"{naming.service_fqdn(naming.signoz_ui_service(), signoz.namespace)}:{naming.SIGNOZ_UI_PORT}"
        self.trace_retention_days = signoz.trace_retention_days
        self.register_outputs(
            {
                "zipkinEndpoint": self.zipkin_endpoint,
                "otlpGrpcEndpoint": self.otlp_grpc_endpoint,
                "otlpHttpEndpoint": self.otlp_http_endpoint,
                "uiService": self.ui_service,
                "traceRetentionDays": self.trace_retention_days,
            }
        )
