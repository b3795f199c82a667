"""The SigNoz collector's traces pipeline: chart defaults restated, Zipkin and our processors added.

Helm replaces lists wholesale, so setting `service.pipelines.traces.receivers` to add `zipkin` would
silently drop every default the chart had there (jaeger, signozspanmetrics/delta, clickhousetraces,
…). The defaults of each supported chart version are therefore kept in one table, tested against
the facts derived from the upstream values file, and every list this module emits restates them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.models import StackSettings


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


# The `traces` pipeline of otelCollector.config in each supported signoz chart version.
CHART_TRACES_PIPELINE: dict[str, Pipeline] = {
    "0.131.0": Pipeline(
        receivers=("otlp", "jaeger"),
        processors=("signozspanmetrics/delta", "batch"),
        exporters=("clickhousetraces", "metadataexporter", "signozmeter"),
    ),
}

ZIPKIN_RECEIVER = "zipkin"
ZIPKIN_ENDPOINT = "0.0.0.0:9411"  # the receiver's own default binds to localhost only
MEMORY_LIMITER = "memory_limiter"
RESOURCE_PROCESSOR = "resource/mesh-tracing"
SCRUB_PROCESSOR = "attributes/scrub-credentials"
CLUSTER_ATTRIBUTE = "k8s.cluster.name"
ENVIRONMENT_ATTRIBUTE = "deployment.environment"

# Span attribute keys that hold credentials when an app or a header tag records them. RE2 syntax
# (the attributes processor's `pattern`), case-insensitive, matched against the whole key.
CREDENTIAL_ATTRIBUTE_PATTERN = (
    r"(?i)^(.*[._-])?(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api[-_.]?key"
    r"|x-auth-token|access[-_.]?token|refresh[-_.]?token|password|passwd|secret)$"
)


def resource_attributes(settings: StackSettings) -> list[dict[str, str]]:
    """Upserts every span gets: environment and cluster first, then the configured attributes.

    Zipkin has no resource concept and the collector's environment variables do not tag Zipkin
    spans, so these are added by a resource processor in the pipeline.
    """
    pairs = [(ENVIRONMENT_ATTRIBUTE, settings.environment), (CLUSTER_ATTRIBUTE, settings.cluster)]
    pairs += sorted(settings.resource_attributes.items())
    return [{"key": key, "value": value, "action": "upsert"} for key, value in pairs]


def traces_pipeline(settings: StackSettings) -> Pipeline:
    defaults = CHART_TRACES_PIPELINE[settings.signoz.chart_version]
    ours = [MEMORY_LIMITER, RESOURCE_PROCESSOR]
    if settings.signoz.collector.scrub_credential_attributes:
        ours.append(SCRUB_PROCESSOR)
    return Pipeline(
        receivers=(*defaults.receivers, ZIPKIN_RECEIVER),
        # memory_limiter first so overload is refused at the door; resource before span metrics so
        # the derived RED metrics carry deployment.environment.
        processors=(*ours, *defaults.processors),
        exporters=defaults.exporters,
    )


def collector_config(settings: StackSettings) -> dict[str, Any]:
    """The `otelCollector.config` overlay (maps merge into the chart's; lists restate its defaults)."""
    limiter = settings.signoz.collector.memory_limiter
    processors: dict[str, Any] = {
        MEMORY_LIMITER: {
            "check_interval": "1s",
            "limit_percentage": limiter.limit_percent,
            "spike_limit_percentage": limiter.spike_limit_percent,
        },
        RESOURCE_PROCESSOR: {"attributes": resource_attributes(settings)},
    }
    if settings.signoz.collector.scrub_credential_attributes:
        processors[SCRUB_PROCESSOR] = {"actions": [{"pattern": CREDENTIAL_ATTRIBUTE_PATTERN, "action": "delete"}]}
    return {
        "receivers": {ZIPKIN_RECEIVER: {"endpoint": ZIPKIN_ENDPOINT}},
        "processors": processors,
        "service": {"pipelines": {"traces": traces_pipeline(settings).as_values()}},
    }
