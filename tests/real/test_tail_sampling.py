"""Tail sampling with the real SigNoz collector: each policy decides as the program configures it,
and the share is decided as `verify` computes it (contrib's hash), trace by trace."""

from __future__ import annotations

from pathlib import Path

from benchmarks.tail_mix import Trace, expected_kept, generated_mix, run_mix
from meshtools.verify.span import new_trace_id
from meshtools.verify.tail import share_keeps

# The tail stack's settings with a short decision wait (its own rule: longer than 5 s + slowerThanMs).
TAIL = {"keepErrors": True, "slowerThanMs": 2000, "percent": 1, "decisionWaitSeconds": 8,
        "expectedTracesPerSecond": 2000}  # fmt: skip


def _trace_id(kept_by_share: bool) -> str:
    while True:
        candidate = new_trace_id()
        if share_keeps(candidate, TAIL["percent"]) == kept_by_share:
            return candidate


def test_each_policy_keeps_what_it_is_for_and_the_share_decides_the_rest(tmp_path: Path) -> None:
    traces = {
        "error": Trace(_trace_id(False), error=True),
        "grpc error": Trace(_trace_id(False), grpc_error=True),
        "slow": Trace(_trace_id(False), duration_ms=2500),
        "inside the share": Trace(_trace_id(True)),
        "outside the share": Trace(_trace_id(False)),
    }
    result = run_mix(list(traces.values()), TAIL, tmp_path)
    stored = {what for what, trace in traces.items() if trace.trace_id in result.kept}
    assert stored == {"error", "grpc error", "slow", "inside the share"}


def test_every_error_trace_is_kept_at_about_one_percent_overall(tmp_path: Path) -> None:
    traces = generated_mix(5000, error_rate=0.002)
    result = run_mix(traces, TAIL | {"slowerThanMs": None}, tmp_path)
    errors_kept, errors = result.share(t for t in traces if t.error)
    assert errors and errors_kept == errors, "every error trace"
    assert result.kept == expected_kept(traces, TAIL["percent"]), "the share decided trace by trace as verify computes"
    assert len(result.kept) / len(traces) < 0.02
