"""A generated mix of traces through the real SigNoz collector configured as a tail sampler.

The collector runs the sampler config the program renders for the `tail` test stack (the decision wait
and the expected rate set through the stack's own settings, so the config is the program's), changed
only by the data-path tests' rewrites (tests/support/collector_rewrites.py: ClickHouse exporters
write files, listeners on free loopback ports). Traces go in over OTLP/HTTP, as the trace router
delivers them; what the traces exporter writes is what SigNoz would store.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshtools import collectors
from meshtools.collector_configs import COLLECTORS, RenderedConfig, rendered_configs
from meshtools.desired import desired_state
from meshtools.manifests import stack_manifests
from meshtools.recording import run_stack
from meshtools.verify.tail import share_keeps
from tests.conftest import TEST_STACKS
from tests.support.collector_process import exported_spans, post, running
from tests.support.collector_rewrites import rewrite_for_test

TRACES_EXPORTER = "clickhousetraces"
STATUS_ERROR = 2  # OTLP Status.code STATUS_CODE_ERROR
BATCH = 250  # traces per OTLP request


@dataclass(frozen=True)
class Trace:
    trace_id: str
    error: bool = False
    grpc_error: bool = False
    duration_ms: int = 5


@dataclass(frozen=True)
class Result:
    sent: list[Trace]
    kept: set[str]
    seconds: float

    def share(self, traces: Iterable[Trace]) -> tuple[int, int]:
        chosen = list(traces)
        return sum(t.trace_id in self.kept for t in chosen), len(chosen)


def sampler_config(folder: Path, tail: dict[str, Any], replicas: int = 1) -> RenderedConfig:
    """The sampler config of the `tail` test stack with these tailSampling settings."""
    resources = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
    collector = {"replicas": replicas, "resources": resources}
    overrides = {"tailSampling": {"enabled": True, **tail}, "signoz": {"collector": collector}}
    run = run_stack("tail", overrides, stacks_dir=TEST_STACKS)
    [config] = [c for c in rendered_configs(stack_manifests(desired_state("tail", run)).objects)
                if c.workload.endswith("/signoz-otel-collector")]  # fmt: skip
    return config


def _span(trace: Trace, start_ns: int) -> dict[str, Any]:
    attributes = [{"key": "http.method", "value": {"stringValue": "GET"}}]
    if trace.grpc_error:
        attributes.append({"key": "grpc.status_code", "value": {"stringValue": "14"}})
    span: dict[str, Any] = {
        "traceId": trace.trace_id,
        "spanId": trace.trace_id[:16],
        "name": "GET /checkout",
        "kind": 2,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + trace.duration_ms * 1_000_000),
        "attributes": attributes,
    }
    if trace.error:
        span["status"] = {"code": STATUS_ERROR}
    return span


def _request(traces: list[Trace]) -> bytes:
    now = time.time_ns()
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout.shop"}}]}
    spans = [_span(t, now - t.duration_ms * 1_000_000) for t in traces]
    return json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}).encode()


def run_mix(traces: list[Trace], tail: dict[str, Any], folder: Path) -> Result:
    """Send `traces`, wait out the decision, and return which were stored."""
    config = sampler_config(folder, tail)
    rewritten = rewrite_for_test(config.config, folder)
    binary = collectors.build(COLLECTORS["signoz"]).binary
    port = rewritten.ports["receivers.otlp.protocols.http"]
    health = rewritten.ports["extensions.health_check"]
    started = time.monotonic()
    with running("sampler", binary, rewritten.text(), env=config.env, folder=folder, health_port=health) as sampler:
        for offset in range(0, len(traces), BATCH):
            status = post(f"http://127.0.0.1:{port}/v1/traces", _request(traces[offset : offset + BATCH]),
                          {"Content-Type": "application/json"})  # fmt: skip
            if status != 200:
                raise AssertionError(f"the sampler answered {status}:\n{sampler.log_text()[-2000:]}")
        # Decisions are made a decision wait after each trace's first span, then batched and written.
        time.sleep(int(tail["decisionWaitSeconds"]) + 6)
    kept = {str(s.span.get("traceId")).lower() for s in exported_spans(rewritten.outputs[TRACES_EXPORTER])}
    return Result(traces, kept, time.monotonic() - started)


def generated_mix(count: int, error_rate: float, seed: int = 7) -> list[Trace]:
    """`count` traces, a share of them errors, with reproducible random trace IDs."""
    rng = random.Random(seed)
    return [Trace(f"{rng.getrandbits(128):032x}", error=rng.random() < error_rate) for _ in range(count)]


def expected_kept(traces: list[Trace], percent: float) -> set[str]:
    """What the policies must keep: every error, and every other trace inside the share."""
    return {t.trace_id for t in traces if t.error or t.grpc_error or share_keeps(t.trace_id, percent)}
