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

from dataclasses import dataclass
from typing import Any

import pulumi

from components.trace_sink import SinkOutputs
from config.signoz import RemoteSettings, RemoteSigNoz
from config.types import RemoteAuth
from kube import naming, pod_security
from kube.collector_config import (
    MEMORY_LIMITER,
    SCRUB_PROCESSOR,
    ZIPKIN_RECEIVER,
    MeshProcessing,
    mesh_processors,
    self_metrics_reader,
    zipkin_receiver,
)
from kube.network_policies import Policy
from kube.resources import COMPONENT_TYPE_PREFIX, helm_release, ingest_key_secret, namespace, network_policy
from kube.tree import merge
from versions.table import ChartId

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


@dataclass(frozen=True)
class SigNozAgentArgs:
    """What SigNozAgent needs: its settings section and what the rest of the stack decides for it."""

    signoz: RemoteSigNoz
    mesh: MeshProcessing
    hardened_pods: bool
    network_policies: tuple[Policy, ...]
    repository: str
    ingest_key: pulumi.Output[str] | None = None


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


def agent_config(args: SigNozAgentArgs) -> dict[str, Any]:
    """The `otelAgent.config` overlay. Lists replace the chart's: traces receive only Zipkin; the
    metrics and logs pipelines keep no receiver (the chart then drops them) unless collection is on,
    when the presets append their receivers and everything leaves through the same exporter."""
    remote = args.signoz.remote
    processors = mesh_processors(args.mesh)
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


def agent_values(args: SigNozAgentArgs) -> dict[str, Any]:
    """k8s-infra values: the agent DaemonSet only, Zipkin in, OTLP/HTTP out, no host ports."""
    remote = args.signoz.remote
    presets: dict[str, Any] = {name: {"enabled": False} for name in OFF_PRESETS}
    presets |= {name: {"enabled": remote.collect_logs} for name in LOG_PRESETS}
    presets |= {name: {"enabled": remote.collect_metrics} for name in METRIC_PRESETS}
    values: dict[str, Any] = {
        # The agent's own telemetry resource (OTEL_RESOURCE_ATTRIBUTES); spans get it from the
        # resource processor.
        "clusterName": args.mesh.cluster,
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
            "resources": args.signoz.collector.resources.to_values(),
            "config": agent_config(args),
        },
    }
    if remote.auth is not RemoteAuth.NONE:
        values["apiKeyExistingSecretName"] = naming.INGEST_KEY_SECRET
        values["apiKeyExistingSecretKey"] = naming.INGEST_KEY_SECRET_KEY
    # The stack's own chart values last (`signoz.remote.extraValues`).
    return merge(merge(values, pod_security.agent_contexts(args.hardened_pods)), remote.extra_values)


def sink_outputs(signoz: RemoteSigNoz) -> SinkOutputs:
    """Where the mesh's spans go, for the stack outputs. The agent's OTLP ports are closed; SigNoz's
    UI and retention belong to the central stack."""
    agent = naming.agent_fqdn(signoz)
    return {
        "zipkinEndpoint": naming.zipkin_url(agent),
        "tracesDestination": {
            "mode": "remote",
            "endpoint": f"{signoz.remote.endpoint}/v1/traces",
            "auth": signoz.remote.auth.value,
            "via": f"{agent}:{naming.ZIPKIN_PORT}",
        },
    }


# --------------------------------------------------------------------------- component


class SigNozAgent(pulumi.ComponentResource):
    """Namespace (no sidecars) → ingest-key Secret → k8s-infra release (the agent DaemonSet)."""

    def __init__(self, name: str, args: SigNozAgentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{COMPONENT_TYPE_PREFIX}SigNozAgent", name, None, opts)
        signoz = args.signoz
        keep = pulumi.ResourceOptions(parent=self, protect=signoz.protect)
        labels = naming.NO_INJECTION_LABELS | pod_security.namespace_labels(
            pod_security.signoz_namespace_level(remote=True)
        )
        ns = namespace(f"{name}-namespace", signoz.namespace, labels, keep)
        for found in args.network_policies:
            network_policy(
                f"{name}-{found.name}", found, namespace=ns.metadata.name, opts=pulumi.ResourceOptions(parent=self)
            )
        waits_for: list[pulumi.Resource] = []
        if signoz.remote.auth is not RemoteAuth.NONE and args.ingest_key is not None:
            # The pods read it at start (secretKeyRef): the Secret exists before the release.
            waits_for.append(ingest_key_secret(f"{name}-ingest-key", ns.metadata.name, args.ingest_key, self))
        helm_release(
            f"{name}-release",
            chart=ChartId.K8S_INFRA,
            version=signoz.remote.chart_version,
            release_name=naming.AGENT_RELEASE,
            namespace=ns.metadata.name,
            values=agent_values(args),
            repository=args.repository,
            opts=pulumi.ResourceOptions.merge(keep, pulumi.ResourceOptions(depends_on=waits_for)),
        )
        self.outputs = sink_outputs(signoz)
        self.ready: list[pulumi.Resource] = [self]
        self.register_outputs(dict(self.outputs))
