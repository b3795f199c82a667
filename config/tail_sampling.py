"""`mesh-tracing:tailSampling`: the decision moved from Envoy to the collector."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    Field,
    StrictBool,
    StrictInt,
    model_validator,
)

from config.problems import MISSING, FieldError
from config.types import Percent, PositiveInt, ResourceList, Resources, SettingsModel

# --------------------------------------------------------------------------- tail sampling

# Envoy's Zipkin tracer sends a batch after 5 spans or 5000 ms (envoyproxy/envoy
# source/extensions/tracers/zipkin/zipkin_tracer_impl.cc, the runtime defaults min_flush_spans and
# request_timeout): a trace's last spans can reach the collector that long after they ended.
ENVOY_ZIPKIN_FLUSH_SECONDS = 5


class TailSamplingSettings(SettingsModel):
    """`mesh-tracing:tailSampling`: keep every error (and slow) trace and a share of the rest, decided
    after the trace ends by the collector instead of by Envoy at its first span."""

    enabled: StrictBool = False
    # Error status (Envoy's error=true: a 5xx or no response), or a gRPC status other than OK.
    keep_errors: StrictBool = True
    # Whole-trace latency (earliest start to latest end) at or above which a trace is kept.
    slower_than_ms: Annotated[StrictInt, Field(ge=1, le=3_600_000)] | None = None
    # The probabilistic share of every other trace.
    percent: Percent = 1.0
    decision_wait_seconds: Annotated[StrictInt, Field(ge=1, le=600)] = 30
    router_replicas: PositiveInt = 2
    # New traces per second across the mesh, to size the traces each sampler holds in memory.
    expected_traces_per_second: Annotated[StrictInt, Field(ge=1, le=1_000_000)] = 100
    router_resources: Resources = Resources(
        requests=ResourceList(cpu="100m", memory="128Mi"), limits=ResourceList(memory="512Mi")
    )

    @model_validator(mode="after")
    def _wait_covers_the_flush(self) -> TailSamplingSettings:
        if self.router_resources.limits.memory is None:
            raise FieldError(
                ("routerResources", "limits", "memory"), MISSING, "required: memory_limiter sizes itself from it"
            )
        latest = ENVOY_ZIPKIN_FLUSH_SECONDS + (self.slower_than_ms or 0) / 1000
        if self.decision_wait_seconds <= latest:
            why = f"Envoy's Zipkin flush interval ({ENVOY_ZIPKIN_FLUSH_SECONDS} s)"
            if self.slower_than_ms:
                why += f" plus slowerThanMs ({self.slower_than_ms} ms)"
            raise FieldError(
                ("decisionWaitSeconds",),
                self.decision_wait_seconds,
                f"must be longer than {why}: a trace's last spans would arrive after its decision",
            )
        return self
