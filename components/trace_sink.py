"""TraceSink: what SigNozStack (deploy mode) and SigNozAgent (remote mode) have in common.

Both receive the mesh's spans in this cluster and say where they go; only the deploy-mode stack
stores them, serves the UI and takes other clusters' spans. The stack outputs have the same keys in
either mode: what a sink does not report is null.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypedDict

import pulumi


class SinkOutputs(TypedDict, total=False):
    """What a sink reports, by stack-output name; SigNozAgent reports tracesDestination and
    zipkinEndpoint only."""

    tracesDestination: dict[str, Any]
    ingestEndpoint: str | None
    zipkinEndpoint: str
    otlpGrpcEndpoint: str
    otlpHttpEndpoint: str
    signozUiService: str
    traceRetentionDays: int


SINK_KEYS: tuple[str, ...] = tuple(SinkOutputs.__annotations__)


class TraceSink(Protocol):
    @property
    def outputs(self) -> SinkOutputs:
        """Where the mesh's spans go and what operators reach."""
        ...

    @property
    def ready(self) -> Sequence[pulumi.Resource]:
        """What must exist before workloads send spans (the demo's load waits for it)."""
        ...
