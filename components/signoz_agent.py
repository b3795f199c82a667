"""SigNozAgent (signoz.mode remote): the k8s-infra chart's agent forwards the mesh's spans elsewhere.

No SigNoz, ClickHouse or ZooKeeper runs in the cluster. SigNoz's k8s-infra chart runs an
otelcol-contrib DaemonSet; it is cut down to a traces-only agent: Envoy reports Zipkin spans to its
Service on 9411, whose `internalTrafficPolicy: Local` (the chart's default, honoured by Istio's
endpoint filtering) keeps them on the node that produced them; the agent's pipeline has the same
processors as the deploy-mode collector and exports over OTLP/HTTP to `signoz.remote.endpoint`
through a bounded, retrying queue. The ingest key reaches the agent only as a secretKeyRef to a
Secret the program creates: the Helm values name the Secret, never the key.
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.signoz_stack import NO_INJECTION_LABELS, SigNozStack, ingest_key_secret
from config.reading import Secrets
from config.signoz import RemoteSettings
from config.stack import StackSettings
from config.types import RemoteAuth
from kube import naming, network_policies, pod_security
from kube.collector_config import (
    MEMORY_LIMITER,
    SCRUB_PROCESSOR,
    ZIPKIN_RECEIVER,
    mesh_processors,
    self_metrics_reader,
    zipkin_receiver,
)
from kube.resources import COMPONENT_TYPE_PREFIX, helm_release, namespace, network_policy
from kube.tree import merge
from kube.versions import ChartId

# The chart's own batch processor (otelAgent.config.processors.batch: 10 000 spans or 200 ms).
BATCH_PROCESSOR = "batch"
# The env var the chart fills from apiKeyExistingSecretName/-Key with a secretKeyRef.
INGEST_KEY_ENV = "SIGNOZ_API_KEY"
# Where each `auth` puts the key; the value is resolved by the collector from its env at start.
AUTH_HEADERS: dict[RemoteAuth, tuple[str, str]] = {
    RemoteAuth.BEARER: ("Authorization", f"Bearer ${{env:{INGEST_KEY_ENV}}}"),
    RemoteAuth.SIGNOZ_CLOUD: ("signoz-ingestion-key", f"${{env:{INGEST_KEY_ENV}}}"),
}
# Presets that collect logs or metrics (each off unless its switch is on), and those that only add
# processors: those are prepended to every pipeline (memory_limiter could no longer come first)
# and need API access, so they stay off. clusterMetrics and k8sEvents run in the chart's
# Deployment, which is not installed.
LOG_PRESETS = ("logsCollection",)
METRIC_PRESETS = ("hostMetrics", "kubeletMetrics")
OFF_PRESETS = ("kubernetesAttributes", "resourceDetection", "clusterMetrics", "k8sEvents", "otlphttpExporter")


# --------------------------------------------------------------------------- pure builders


def remote_settings(settings: StackSettings) -> RemoteSettings:
    remote = settings.signoz.remote
    assert remote is not None  # enforced by SigNozSettings in mode remote
    return remote


def remote_exporter(remote: RemoteSettings) -> dict[str, Any]:
    """OTLP/HTTP to the endpoint (posting to <endpoint>/v1/traces), TLS verified unless turned off.

    The queue counts spans (`sizer: items`), so its size divided by a node's span rate is how long
    it holds spans while the endpoint is down, whatever the batch sizes; each batch is retried with
    backoff for at most `max_retry_seconds`, then dropped and counted as failed.
    """
    exporter: dict[str, Any] = {
        "endpoint": remote.endpoint,
        "tls": {"insecure_skip_verify": remote.insecure_skip_verify},
        "sending_queue": {"enabled": True, "sizer": "items", "queue_size": remote.queue_spans},
        "retry_on_failure": {"enabled": True, "max_elapsed_time": f"{remote.max_retry_seconds}s"},
    }
    if remote.auth in AUTH_HEADERS:
        header, value = AUTH_HEADERS[remote.auth]
        exporter["headers"] = {header: value}
    return exporter


def agent_config(settings: StackSettings) -> dict[str, Any]:
    """The `otelAgent.config` overlay. Lists replace the chart's: traces receive only Zipkin; the
    metrics and logs pipelines keep no receiver (the chart then drops them) unless collection is on,
    when the presets append their receivers and everything leaves through the same exporter."""
    remote = remote_settings(settings)
    processors = mesh_processors(settings)
    exporters = [naming.AGENT_EXPORTER]
    resource_only = [name for name in processors if name != SCRUB_PROCESSOR]  # span attributes only
    pipelines: dict[str, Any] = {
        "traces": {
            "receivers": [ZIPKIN_RECEIVER],
            "processors": [*processors, BATCH_PROCESSOR],
            "exporters": exporters,
        },
    }
    for pipeline, on in (("metrics", remote.collect_metrics), ("logs", remote.collect_logs)):
        pipelines[pipeline] = {"receivers": []}
        if on:  # the presets append their receivers
            pipelines[pipeline] |= {"processors": [*resource_only, BATCH_PROCESSOR], "exporters": exporters}
    assert next(iter(processors)) == MEMORY_LIMITER
    return {
        "receivers": {ZIPKIN_RECEIVER: zipkin_receiver()},
        "processors": processors,
        "exporters": {naming.AGENT_EXPORTER: remote_exporter(remote)},
        "service": {"telemetry": {"metrics": {"readers": [self_metrics_reader()]}}, "pipelines": pipelines},
    }


def agent_values(settings: StackSettings) -> dict[str, Any]:
    """k8s-infra values: the agent DaemonSet only, Zipkin in, OTLP/HTTP out, no host ports."""
    remote = remote_settings(settings)
    presets: dict[str, Any] = {name: {"enabled": False} for name in OFF_PRESETS}
    presets |= {name: {"enabled": remote.collect_logs} for name in LOG_PRESETS}
    presets |= {name: {"enabled": remote.collect_metrics} for name in METRIC_PRESETS}
    values: dict[str, Any] = {
        # The agent's own telemetry resource (OTEL_RESOURCE_ATTRIBUTES); spans get it from the
        # resource processor.
        "clusterName": settings.cluster,
        "otelDeployment": {"enabled": False},
        "presets": presets,
        "otelAgent": {
            "ports": {
                # Reached through the Service only: no port of every node is opened.
                "zipkin": {"enabled": True, "hostPort": 0},
                "otlp": {"enabled": False},
                "otlp-http": {"enabled": False},
                "metrics": {"hostPort": 0},
                "health-check": {"hostPort": 0},
            },
            "resources": settings.signoz.collector.resources.to_values(),
            "config": agent_config(settings),
        },
    }
    if remote.auth is not RemoteAuth.NONE:
        values["apiKeyExistingSecretName"] = naming.INGEST_KEY_SECRET
        values["apiKeyExistingSecretKey"] = naming.INGEST_KEY_SECRET_KEY
    return merge(values, pod_security.agent_contexts(settings))


def traces_destination(settings: StackSettings) -> dict[str, Any]:
    remote = remote_settings(settings)
    return {
        "mode": "remote",
        "endpoint": f"{remote.endpoint}/v1/traces",
        "auth": remote.auth.value,
        "via": f"{naming.agent_fqdn(settings.signoz)}:{naming.ZIPKIN_PORT}",
    }


# --------------------------------------------------------------------------- component


class SigNozAgent(pulumi.ComponentResource):
    """Namespace (no sidecars) → ingest-key Secret → k8s-infra release (the agent DaemonSet)."""

    def __init__(
        self,
        name: str,
        settings: StackSettings,
        ingest_key: pulumi.Output[str] | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(f"{COMPONENT_TYPE_PREFIX}SigNozAgent", name, None, opts)
        signoz = settings.signoz
        remote = remote_settings(settings)
        keep = pulumi.ResourceOptions(parent=self, protect=signoz.protect)

        labels = NO_INJECTION_LABELS | pod_security.namespace_labels(pod_security.signoz_namespace_level(settings))
        ns = namespace(f"{name}-namespace", signoz.namespace, labels, keep)
        if network_policies.enabled(settings):
            for found in network_policies.agent_policies(settings):
                network_policy(
                    f"{name}-{found.name}", found, namespace=ns.metadata.name, opts=pulumi.ResourceOptions(parent=self)
                )
        waits_for: list[pulumi.Resource] = []
        if remote.auth is not RemoteAuth.NONE:
            assert ingest_key is not None  # settings require signozIngestKey for this auth
            # The pods read it at start (secretKeyRef): the Secret exists before the release.
            waits_for.append(ingest_key_secret(self, name, ns.metadata.name, ingest_key))
        helm_release(
            f"{name}-release",
            chart=ChartId.K8S_INFRA,
            version=remote.chart_version,
            release_name=naming.AGENT_RELEASE,
            namespace=ns.metadata.name,
            values=agent_values(settings),
            repository=settings.repository_of(ChartId.K8S_INFRA),
            opts=pulumi.ResourceOptions.merge(keep, pulumi.ResourceOptions(depends_on=waits_for)),
        )

        self.zipkin_endpoint = naming.zipkin_url(settings)
        # The agent's OTLP ports are closed; SigNoz's UI and retention belong to the central stack.
        self.otlp_grpc_endpoint: str | None = None
        self.otlp_http_endpoint: str | None = None
        self.ui_service: str | None = None
        self.trace_retention_days: int | None = None
        self.ingest_endpoint: str | None = None
        self.traces_destination = traces_destination(settings)
        self.register_outputs({"zipkinEndpoint": self.zipkin_endpoint, "tracesDestination": self.traces_destination})


def build_signoz(settings: StackSettings, secrets: Secrets) -> SigNozStack | SigNozAgent:
    """What receives the mesh's spans in this cluster: SigNoz itself (deploy) or the agent (remote)."""
    if settings.signoz.remote_mode:
        return SigNozAgent("signoz-agent", settings, secrets.signoz_ingest_key)
    return SigNozStack("signoz", settings, secrets.clickhouse_password, secrets.signoz_ingest_key)
