"""The SigNoz collector's traces pipeline: chart defaults restated, Zipkin and our processors added.

Helm replaces lists wholesale, so setting `service.pipelines.traces.receivers` to add `zipkin` would
silently drop every default the chart had there (jaeger, signozspanmetrics/delta, clickhousetraces,
…). Every list this module emits therefore restates the defaults of the pinned chart version, read
from that version's facts (versions/signoz/<version>/facts/, derived from its values file).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from config.signoz import DeploySigNoz, MemoryLimiter
from config.tail_sampling import TailSamplingSettings
from kube import naming
from versions.table import ChartId, facts


@dataclass(frozen=True)
class MeshProcessing:
    """What every collector the mesh reports to does first, whichever collector it is (SigNoz's, the
    trace router, the remote agent): refuse overload, tag spans with the stack's environment, cluster
    and resource attributes, and delete credentials."""

    environment: str
    cluster: str
    resource_attributes: tuple[tuple[str, str], ...]
    memory_limiter: MemoryLimiter
    scrub_credentials: bool


@dataclass(frozen=True)
class Pipeline:
    receivers: tuple[str, ...]
    processors: tuple[str, ...]
    exporters: tuple[str, ...]

    def as_values(self) -> dict[str, list[str]]:
        return {
            "receivers": list(self.receivers),
            "processors": list(self.processors),
            "exporters": list(self.exporters),
        }


def chart_pipeline(chart_version: str, name: str = "traces") -> Pipeline:
    """A pipeline of otelCollector.config as the signoz chart at `chart_version` defines it (its facts)."""
    pipeline = facts(ChartId.SIGNOZ, chart_version)["collector"]["pipelines"][name]
    return Pipeline(
        receivers=tuple(pipeline["receivers"]),
        processors=tuple(pipeline["processors"]),
        exporters=tuple(pipeline["exporters"]),
    )


def chart_service_extensions(chart_version: str) -> tuple[str, ...]:
    """The `service.extensions` list of otelCollector.config in the signoz chart at `chart_version`."""
    return tuple(facts(ChartId.SIGNOZ, chart_version)["collector"]["service_extensions"])


ZIPKIN_RECEIVER = "zipkin"
ZIPKIN_ENDPOINT = "0.0.0.0:9411"  # the receiver's own default binds to localhost only
MEMORY_LIMITER = "memory_limiter"
RESOURCE_PROCESSOR = "resource/mesh-tracing"
SCRUB_PROCESSOR = "attributes/scrub-credentials"
CLUSTER_ATTRIBUTE = "k8s.cluster.name"
ENVIRONMENT_ATTRIBUTE = "deployment.environment"
# signoz.ingest: a second OTLP/HTTP receiver for other clusters, authenticated by a bearer token
# read from the mounted ingest-key Secret (the extension reloads the file when it changes).
INGEST_RECEIVER = "otlp/ingest"
INGEST_PIPELINE = "traces/ingest"
INGEST_AUTHENTICATOR = "bearertokenauth/ingest"
INGEST_TOKEN_DIR = "/etc/mesh-tracing/ingest"
INGEST_TOKEN_FILE = f"{INGEST_TOKEN_DIR}/{naming.INGEST_KEY_SECRET_KEY}"

# Span attribute keys that hold credentials when an app or a header tag records them. RE2 syntax
# (the attributes processor's `pattern`), case-insensitive, matched against the whole key.
CREDENTIAL_ATTRIBUTE_PATTERN = (
    r"(?i)^(.*[._-])?(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api[-_.]?key"
    r"|x-auth-token|access[-_.]?token|refresh[-_.]?token|password|passwd|secret)$"
)


def limiter_first(processors: Any) -> bool:
    """Whether a pipeline's processor list starts with memory_limiter: the limiter refuses data at the
    door under memory pressure; anywhere later, what came before has already buffered it and overload
    kills the pod instead of shedding load. The one predicate of the policy pack and the data path."""
    return isinstance(processors, list | tuple) and len(processors) > 0 and processors[0] == MEMORY_LIMITER


def resource_attributes(mesh: MeshProcessing) -> list[dict[str, str]]:
    """Upserts every span gets: environment and cluster first, then the configured attributes.

    Zipkin has no resource concept and the collector's environment variables do not tag Zipkin
    spans, so these are added by a resource processor in the pipeline.
    """
    pairs = [(ENVIRONMENT_ATTRIBUTE, mesh.environment), (CLUSTER_ATTRIBUTE, mesh.cluster)]
    pairs += sorted(mesh.resource_attributes)
    return [{"key": key, "value": value, "action": "upsert"} for key, value in pairs]


def memory_limiter(limiter: MemoryLimiter) -> dict[str, Any]:
    """Percentages of the container's memory limit (settings require one)."""
    return {
        "check_interval": "1s",
        "limit_percentage": limiter.limit_percent,
        "spike_limit_percentage": limiter.spike_limit_percent,
    }


def mesh_processors(mesh: MeshProcessing) -> dict[str, dict[str, Any]]:
    """The processors every collector the mesh reports to runs first, in pipeline order:
    memory_limiter, the resource processor, and the credential scrub when enabled."""
    processors: dict[str, dict[str, Any]] = {
        MEMORY_LIMITER: memory_limiter(mesh.memory_limiter),
        RESOURCE_PROCESSOR: {"attributes": resource_attributes(mesh)},
    }
    if mesh.scrub_credentials:
        processors[SCRUB_PROCESSOR] = {"actions": [{"pattern": CREDENTIAL_ATTRIBUTE_PATTERN, "action": "delete"}]}
    return processors


def zipkin_receiver() -> dict[str, Any]:
    """Zipkin over HTTP on every interface: `endpoint` at the receiver's top level.

    The receiver's config is `confighttp.ServerConfig` squashed plus `parse_string_tags`; it has no
    `protocols` key (contrib `receiver/zipkinreceiver/config.go` as released at v0.139.0, the agent's
    build, and v0.144.0, the SigNoz collector's). The collectors decode strictly, so an unknown key
    stops them at startup.
    """
    return {"endpoint": ZIPKIN_ENDPOINT}


def traces_pipeline(chart_version: str, mesh: MeshProcessing, tail: TailSamplingSettings | None) -> Pipeline:
    """The collector's traces pipeline; `tail` is None without tail sampling."""
    defaults = chart_pipeline(chart_version)
    if tail is not None:
        # The trace router receives Zipkin and runs the mesh's processors; here spans arrive over
        # OTLP, every span of a trace at this replica. Span metrics first, so the RED metrics count
        # every request; then the decision; then the chart's batch and exporters.
        processors = list(defaults.processors)
        processors.insert(processors.index(SPAN_METRICS_PROCESSOR) + 1, TAIL_SAMPLING_PROCESSOR)
        return Pipeline(
            receivers=defaults.receivers, processors=(MEMORY_LIMITER, *processors), exporters=defaults.exporters
        )
    return Pipeline(
        receivers=(*defaults.receivers, ZIPKIN_RECEIVER),
        # memory_limiter first so overload is refused at the door; resource before span metrics so
        # the derived RED metrics carry deployment.environment.
        processors=(*mesh_processors(mesh), *defaults.processors),
        exporters=defaults.exporters,
    )


# --------------------------------------------------------------------------- tail sampling

TAIL_SAMPLING_PROCESSOR = "tail_sampling"
SPAN_METRICS_PROCESSOR = "signozspanmetrics/delta"
BATCH_PROCESSOR = "batch"
LOADBALANCING_EXPORTER = "loadbalancing"
HEALTH_CHECK = "health_check"
HEALTH_CHECK_PORT = 13133
SAMPLER_OTLP_PORT = 4317
# A gRPC status other than OK (0), as Envoy tags it on a span (grpc.status_code).
GRPC_NOT_OK = "^[1-9][0-9]*$"


def self_metrics_reader() -> dict[str, Any]:
    """The collector's default Prometheus reader, on 0.0.0.0 instead of localhost so the counters
    are reachable on the pod's metrics port; without suffixes, as the default reader names them
    (`otelcol_exporter_sent_spans`, not `…_total`)."""
    return {
        "pull": {
            "exporter": {
                "prometheus": {
                    "host": "0.0.0.0",
                    "port": naming.COLLECTOR_METRICS_PORT,
                    "without_scope_info": True,
                    "without_type_suffix": True,
                    "without_units": True,
                    "with_resource_constant_labels": {"included": []},
                }
            }
        }
    }


def traces_held(tail: TailSamplingSettings, replicas: int) -> int:
    """Traces one sampler holds while it waits to decide: new traces per second reaching it (the
    mesh's, spread over the collector's fixed replicas) times decision_wait."""
    per_replica = math.ceil(tail.expected_traces_per_second / replicas)
    return per_replica * tail.decision_wait_seconds


def tail_sampling_processor(tail: TailSamplingSettings, replicas: int) -> dict[str, Any]:
    """contrib's `tail_sampling` (processor/tailsamplingprocessor, config.go at v0.144.0): a trace is
    kept when any policy samples it. `num_traces` is twice the traces held, as headroom: an overflow
    drops traces undecided, errors included."""
    held = traces_held(tail, replicas)
    policies: list[dict[str, Any]] = []
    if tail.keep_errors:
        policies.append({"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}})
        policies.append(
            {
                "name": "grpc-errors",
                "type": "string_attribute",
                "string_attribute": {
                    "key": "grpc.status_code",
                    "values": [GRPC_NOT_OK],
                    "enabled_regex_matching": True,
                },
            }
        )
    if tail.slower_than_ms is not None:
        policies.append({"name": "slow", "type": "latency", "latency": {"threshold_ms": tail.slower_than_ms}})
    policies.append({"name": "share", "type": "probabilistic", "probabilistic": {"sampling_percentage": tail.percent}})
    return {
        "decision_wait": f"{tail.decision_wait_seconds}s",
        "num_traces": 2 * held,
        "expected_new_traces_per_sec": math.ceil(held / tail.decision_wait_seconds),
        # Late spans of a trace already decided follow its decision instead of being decided alone.
        "decision_cache": {"sampled_cache_size": 10 * held, "non_sampled_cache_size": 10 * held},
        "policies": policies,
    }


def router_config(mesh: MeshProcessing, collector_namespace: str) -> dict[str, Any]:
    """The trace router: Envoy's Zipkin spans in, the mesh's processors, then each trace by trace ID
    to one replica of the collector (contrib's `loadbalancing` exporter with its Kubernetes resolver,
    which watches the collector Service's EndpointSlices)."""
    # memory_limiter's percentages apply to the router's own memory limit (tailSampling.routerResources).
    processors = mesh_processors(mesh)
    return {
        "receivers": {ZIPKIN_RECEIVER: zipkin_receiver()},
        "processors": {**processors, BATCH_PROCESSOR: {}},
        "exporters": {
            LOADBALANCING_EXPORTER: {
                "routing_key": "traceID",
                "protocol": {"otlp": {"tls": {"insecure": True}}},
                "resolver": {
                    "k8s": {
                        "service": f"{naming.collector_service_name()}.{collector_namespace}",
                        "ports": [SAMPLER_OTLP_PORT],
                        # Also the resolver's watch timeout: at its 1 s default it reopens the watch
                        # every second (contrib issue 46204).
                        "timeout": "1m",
                    }
                },
            }
        },
        "extensions": {HEALTH_CHECK: {"endpoint": f"0.0.0.0:{HEALTH_CHECK_PORT}"}},
        "service": {
            "extensions": [HEALTH_CHECK],
            "telemetry": {"metrics": {"readers": [self_metrics_reader()]}},
            "pipelines": {
                "traces": {
                    "receivers": [ZIPKIN_RECEIVER],
                    "processors": [*processors, BATCH_PROCESSOR],
                    "exporters": [LOADBALANCING_EXPORTER],
                }
            },
        },
    }


def ingest_pipeline(chart_version: str, mesh: MeshProcessing) -> Pipeline:
    """Other clusters' spans, in a pipeline of their own: they arrive with their environment, cluster
    and attributes set by their agent, which this cluster's resource processor would overwrite
    (upsert). memory_limiter first and the scrub as here; then the chart's processors and exporters,
    so they are stored and measured like local spans."""
    defaults = chart_pipeline(chart_version)
    ours = [name for name in mesh_processors(mesh) if name != RESOURCE_PROCESSOR]
    return Pipeline(
        receivers=(INGEST_RECEIVER,), processors=(*ours, *defaults.processors), exporters=defaults.exporters
    )


def ingest_receiver() -> dict[str, Any]:
    """OTLP over HTTP only (the ingress forwards HTTP), every request checked by the authenticator."""
    return {
        "protocols": {
            "http": {
                "endpoint": f"0.0.0.0:{naming.INGEST_PORT}",
                "auth": {"authenticator": INGEST_AUTHENTICATOR},
            }
        }
    }


def collector_config(signoz: DeploySigNoz, mesh: MeshProcessing, tail: TailSamplingSettings | None) -> dict[str, Any]:
    """The `otelCollector.config` overlay (maps merge into the chart's; lists restate its defaults).
    With tail sampling the collector is the sampler tier: the router has received Zipkin and run the
    resource and scrub processors; only memory_limiter and the sampler are added here."""
    receivers: dict[str, Any] = {}
    ours = mesh_processors(mesh)
    processors = ours
    if tail is not None:
        sampler = tail_sampling_processor(tail, signoz.collector.replicas)
        processors = {MEMORY_LIMITER: ours[MEMORY_LIMITER], TAIL_SAMPLING_PROCESSOR: sampler}
    else:
        receivers[ZIPKIN_RECEIVER] = zipkin_receiver()
    pipeline = traces_pipeline(signoz.chart_version, mesh, tail)
    service: dict[str, Any] = {"pipelines": {"traces": pipeline.as_values()}}
    config: dict[str, Any] = {"receivers": receivers, "processors": processors}
    if signoz.ingest is not None:
        receivers[INGEST_RECEIVER] = ingest_receiver()
        ingest = ingest_pipeline(signoz.chart_version, mesh)
        config["processors"] |= {name: ours[name] for name in ingest.processors if name in ours}
        service["pipelines"][INGEST_PIPELINE] = ingest.as_values()
        config["extensions"] = {INGEST_AUTHENTICATOR: {"filename": INGEST_TOKEN_FILE}}
        service["extensions"] = [*chart_service_extensions(signoz.chart_version), INGEST_AUTHENTICATOR]
    if not receivers:
        del config["receivers"]
    config["service"] = service
    return config
