"""`mesh-tracing:signoz`: the SigNoz a deploy-mode stack runs, or the agent of a remote-mode stack."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    StrictBool,
    StrictInt,
    Tag,
    model_validator,
)

from config.problems import MISSING, FieldError
from config.types import (
    DnsLabel,
    ExtraValues,
    Hostname,
    HttpsUrl,
    HttpUrl,
    ObjectName,
    OwnedPaths,
    PositiveInt,
    Quantity,
    RemoteAuth,
    ResourceList,
    Resources,
    SettingsModel,
    SigNozMode,
    mode_of,
    supported_version,
)
from versions.table import CHARTS, ChartId

# --------------------------------------------------------------------------- signoz


class CollectorAutoscaling(SettingsModel):
    enabled: StrictBool = False
    min_replicas: PositiveInt = 2
    max_replicas: PositiveInt = 6
    target_cpu_percent: Annotated[StrictInt, Field(ge=1, le=100)] = 70

    @model_validator(mode="after")
    def _min_le_max(self) -> CollectorAutoscaling:
        if self.min_replicas > self.max_replicas:
            raise FieldError(("minReplicas",), self.min_replicas, f"must not exceed maxReplicas ({self.max_replicas})")
        return self


class MemoryLimiter(SettingsModel):
    """memory_limiter percentages of the container memory limit (which must therefore be set)."""

    limit_percent: Annotated[StrictInt, Field(ge=10, le=95)] = 80
    spike_limit_percent: Annotated[StrictInt, Field(ge=1, le=50)] = 20

    @model_validator(mode="after")
    def _spike_below_limit(self) -> MemoryLimiter:
        if self.spike_limit_percent >= self.limit_percent:
            raise FieldError(
                ("spikeLimitPercent",), self.spike_limit_percent, f"must be below limitPercent ({self.limit_percent})"
            )
        return self


class AgentCollectorSettings(SettingsModel):
    """What every collector the mesh reports to has: its size and the processors that run first."""

    resources: Resources = Resources(
        requests=ResourceList(cpu="100m", memory="256Mi"), limits=ResourceList(memory="512Mi")
    )
    memory_limiter: MemoryLimiter = MemoryLimiter()
    scrub_credential_attributes: StrictBool = True

    @model_validator(mode="after")
    def _limit_for_memory_limiter(self) -> AgentCollectorSettings:
        if self.resources.limits.memory is None:
            raise FieldError(
                ("resources", "limits", "memory"), MISSING, "required: memory_limiter sizes itself from it"
            )
        return self


class CollectorSettings(AgentCollectorSettings):
    """SigNoz's own collector (deploy mode): also its replicas, fixed or autoscaled."""

    replicas: PositiveInt = 1
    autoscaling: CollectorAutoscaling = CollectorAutoscaling()

    @property
    def min_available_replicas(self) -> int:
        return self.autoscaling.min_replicas if self.autoscaling.enabled else self.replicas


class ClickHouseSettings(SettingsModel):
    persistence_size: Quantity = "20Gi"
    storage_class: DnsLabel | None = None
    shards: Annotated[StrictInt, Field(ge=1, le=64)] = 1
    replicas: Annotated[StrictInt, Field(ge=1, le=8)] = 1
    zookeeper_replicas: Literal[1, 3, 5] = 1
    resources: Resources = Resources(
        requests=ResourceList(cpu="100m", memory="200Mi"), limits=ResourceList(memory="4Gi")
    )
    # Each of the operator's two containers (the operator and its metrics exporter).
    operator_resources: Resources = Resources(
        requests=ResourceList(cpu="50m", memory="64Mi"), limits=ResourceList(memory="256Mi")
    )
    # The chart's ZooKeeper runs a JVM with a fixed 1024 MB heap (the zookeeper chart's heapSize):
    # its limit leaves room for the heap and the JVM's own memory.
    zookeeper_resources: Resources = Resources(
        requests=ResourceList(cpu="100m", memory="256Mi"), limits=ResourceList(memory="1536Mi")
    )

    @model_validator(mode="after")
    def _replication_needs_quorum(self) -> ClickHouseSettings:
        if self.replicas > 1 and self.zookeeper_replicas < 3:
            raise FieldError(
                ("zookeeperReplicas",),
                self.zookeeper_replicas,
                f"must be 3 or 5 for a real quorum when replicas is {self.replicas}",
            )
        return self


# A queue counted in spans must hold one full batch of the agent's batch processor (the k8s-infra
# chart's 10 000 spans), or it refuses every full batch.
MIN_QUEUE_SPANS = 10_000


class RemoteSettings(SettingsModel):
    """`signoz.mode: remote`: the k8s-infra agent forwards the mesh's spans to a SigNoz elsewhere."""

    # The OTLP/HTTP base URL; the exporter posts to <endpoint>/v1/traces.
    endpoint: HttpsUrl
    auth: RemoteAuth = RemoteAuth.BEARER
    insecure_skip_verify: StrictBool = False
    # The agent's sending queue, counted in spans (sizer: items), and how long a batch is retried.
    # Together they bound the central outage a node's agent rides out without losing spans.
    queue_spans: Annotated[StrictInt, Field(ge=MIN_QUEUE_SPANS, le=5_000_000)] = 50_000
    max_retry_seconds: Annotated[StrictInt, Field(ge=30, le=86_400)] = 900
    # The chart's log and metric collection stays off unless turned on here.
    collect_logs: StrictBool = False
    collect_metrics: StrictBool = False
    chart_version: Annotated[str, supported_version(ChartId.K8S_INFRA)] = CHARTS[ChartId.K8S_INFRA].default_version
    # The k8s-infra release's values the settings do not model, merged last.
    extra_values: ExtraValues = {}

    @model_validator(mode="after")
    def _central_ingest_takes_traces_only(self) -> RemoteSettings:
        # A central mesh-tracing stack's ingest routes /v1/traces into a traces pipeline only: logs
        # and metrics sent there get 404, which the exporter does not retry.
        if self.auth is RemoteAuth.BEARER:
            for field, on in (("collectLogs", self.collect_logs), ("collectMetrics", self.collect_metrics)):
                if on:
                    raise FieldError(
                        (field,),
                        True,
                        "a central mesh-tracing stack ingests traces only; use auth 'signozCloud' or turn it off",
                    )
        return self


class IngestSettings(SettingsModel):
    """A central (deploy-mode) stack's authenticated OTLP/HTTP receiver for other clusters."""

    host: Hostname
    ingress_class: DnsLabel = "nginx"
    tls_secret_name: ObjectName | None = None


class DeploySigNoz(SettingsModel):
    """`signoz.mode: deploy` (the default): SigNoz, ClickHouse and ZooKeeper run in this cluster."""

    mode_note = "SigNoz runs in this cluster"

    mode: Literal[SigNozMode.DEPLOY] = SigNozMode.DEPLOY
    ingest: IngestSettings | None = None
    chart_version: Annotated[str, supported_version(ChartId.SIGNOZ)] = CHARTS[ChartId.SIGNOZ].default_version
    namespace: DnsLabel = "signoz"
    collector: CollectorSettings = CollectorSettings()
    clickhouse: ClickHouseSettings = ClickHouseSettings()
    trace_retention_days: Annotated[StrictInt, Field(ge=1, le=3650)] = 15
    ui_host: Hostname | None = None
    external_url: HttpUrl | None = None
    protect: StrictBool = False
    # The SigNoz container (UI, API, alerting) and the schema-migration containers (the Job's, and
    # the collector's init container that waits for them).
    resources: Resources = Resources(
        requests=ResourceList(cpu="100m", memory="100Mi"), limits=ResourceList(memory="1Gi")
    )
    migrator_resources: Resources = Resources(
        requests=ResourceList(cpu="50m", memory="64Mi"), limits=ResourceList(memory="512Mi")
    )
    # The signoz release's values the settings do not model, merged last.
    extra_values: ExtraValues = {}

    @property
    def remote_mode(self) -> bool:
        return False


class RemoteSigNoz(SettingsModel):
    """`signoz.mode: remote`: only the k8s-infra agent runs here and forwards to a SigNoz elsewhere."""

    mode_note = "no SigNoz runs in this cluster"

    mode: Literal[SigNozMode.REMOTE]
    remote: Annotated[RemoteSettings, Field(description="{endpoint, auth, …}")]
    namespace: DnsLabel = "signoz"
    collector: AgentCollectorSettings = AgentCollectorSettings()
    protect: StrictBool = False

    @property
    def remote_mode(self) -> bool:
        return True


SigNozSettings = Annotated[
    Annotated[DeploySigNoz, Tag(SigNozMode.DEPLOY.value)] | Annotated[RemoteSigNoz, Tag(SigNozMode.REMOTE.value)],
    mode_of("mode", SigNozMode.DEPLOY.value),
]


# --------------------------------------------------------------------------- values the program sets

_HARDENED = "from mesh-tracing:security.hardenedPods (the hardened pod and container contexts)"
_PIPELINES = (
    "from mesh-tracing:signoz.collector (memoryLimiter, scrubCredentialAttributes), resourceAttributes, "
    "environment, cluster, tailSampling and signoz.ingest: the pipelines the mesh's spans pass"
)

# The chart values the signoz release gets from the program (components/signoz_stack.py builds
# them): `signoz.extraValues` may not set them (config/extra_values.py).
SIGNOZ_OWNED: OwnedPaths = {
    "otelCollector.ports.zipkin": "from mesh-tracing:tailSampling.enabled: the Zipkin port Envoy reports to "
    "(on the collector, or on the trace router)",
    "otelCollector.ports.otlp-ingest": "from mesh-tracing:signoz.ingest: the authenticated port of other clusters",
    "otelCollector.ingress": "from mesh-tracing:signoz.ingest: the Ingress of other clusters' spans",
    "otelCollector.replicaCount": "from mesh-tracing:signoz.collector.replicas",
    "otelCollector.resources": "from mesh-tracing:signoz.collector.resources",
    "otelCollector.autoscaling": "from mesh-tracing:signoz.collector.autoscaling",
    "otelCollector.config": _PIPELINES,
    "otelCollector.extraVolumes": "from mesh-tracing:security.hardenedPods (scratch space) and signoz.ingest "
    "(the key file)",
    "otelCollector.extraVolumeMounts": "from mesh-tracing:security.hardenedPods (scratch space) and signoz.ingest "
    "(the key file)",
    "otelCollector.podSecurityContext": _HARDENED,
    "otelCollector.securityContext": _HARDENED,
    "clickhouse.password": "from mesh-tracing:clickhousePassword (or a generated one)",
    "clickhouse.persistence.size": "from mesh-tracing:signoz.clickhouse.persistenceSize",
    "clickhouse.persistence.storageClass": "from mesh-tracing:signoz.clickhouse.storageClass",
    "clickhouse.layout.shardsCount": "from mesh-tracing:signoz.clickhouse.shards",
    "clickhouse.layout.replicasCount": "from mesh-tracing:signoz.clickhouse.replicas",
    "clickhouse.resources": "from mesh-tracing:signoz.clickhouse.resources",
    "clickhouse.securityContext": _HARDENED,
    "clickhouse.zookeeper.replicaCount": "from mesh-tracing:signoz.clickhouse.zookeeperReplicas",
    "clickhouse.zookeeper.resources": "from mesh-tracing:signoz.clickhouse.zookeeperResources",
    "clickhouse.zookeeper.podSecurityContext": _HARDENED,
    "clickhouse.zookeeper.containerSecurityContext": _HARDENED,
    "clickhouse.clickhouseOperator.resources": "from mesh-tracing:signoz.clickhouse.operatorResources",
    "clickhouse.clickhouseOperator.metricsExporter.resources": "from mesh-tracing:signoz.clickhouse.operatorResources",
    "clickhouse.clickhouseOperator.podSecurityContext": _HARDENED,
    "telemetryStoreMigrator.resources": "from mesh-tracing:signoz.migratorResources",
    "signoz.resources": "from mesh-tracing:signoz.resources",
    "signoz.ingress.enabled": "from mesh-tracing:signoz.uiHost",
    "signoz.ingress.hosts": "from mesh-tracing:signoz.uiHost",
    "signoz.env.signoz_alertmanager_signoz_external__url": "from mesh-tracing:signoz.externalUrl",
    "signoz.podSecurityContext": _HARDENED,
    "signoz.securityContext": _HARDENED,
}
# The chart values the k8s-infra release (remote mode's agent) gets from the program
# (components/signoz_agent.py builds them): `signoz.remote.extraValues` may not set them.
AGENT_OWNED: OwnedPaths = {
    "clusterName": "from mesh-tracing:cluster",
    "apiKeyExistingSecretName": "from mesh-tracing:signozIngestKey and signoz.remote.auth: the Secret the "
    "program creates",
    "apiKeyExistingSecretKey": "from mesh-tracing:signozIngestKey and signoz.remote.auth: the Secret the "
    "program creates",
    "otelDeployment.enabled": "itself: only the agent DaemonSet runs (docs/many-clusters.md)",
    "presets": "from mesh-tracing:signoz.remote.collectLogs and collectMetrics (the other presets stay off: "
    "they would run before memory_limiter)",
    "otelAgent.ports": "itself: Zipkin in through the node-local Service only, no host ports",
    "otelAgent.resources": "from mesh-tracing:signoz.collector.resources",
    "otelAgent.config": "from mesh-tracing:signoz.collector (memoryLimiter, scrubCredentialAttributes), "
    "resourceAttributes, environment, cluster and signoz.remote: the agent's pipelines and exporter",
    "otelAgent.podSecurityContext": _HARDENED,
    "otelAgent.securityContext": _HARDENED,
}
