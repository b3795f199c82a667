"""The verification span under tail sampling: one the sampler must keep, and that shows why.

With tail sampling a span posted to the mesh's Zipkin endpoint is stored only when a policy keeps its
trace. `verify` therefore sends the trace the stack's policies are meant for: an error trace whose
trace ID the probabilistic share would drop — so its arrival proves that errors are kept, not that it
was lucky —, or else a trace slower than `slowerThanMs`, or else one the share keeps.

The share's decision is contrib's probabilistic policy (processor/tailsamplingprocessor at v0.144.0,
internal/sampling/probabilistic.go): FNV-1a 64 over the salt `default-hash-seed` and the 16 trace-ID
bytes, kept when the hash is at most MaxUint64 * percent / 100.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from config.tail_sampling import TailSamplingSettings
from meshtools.verify.span import new_trace_id

DEFAULT_HASH_SALT = b"default-hash-seed"
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MAX_UINT64 = 2**64 - 1
# Trace IDs are picked clear of the share's threshold (an eighth of the way into the side they need),
# so rounding at the boundary never matters.
_MARGIN_PART = 8


def fnv1a64(data: bytes) -> int:
    """FNV-1a, 64 bits (Go's hash/fnv New64a)."""
    value = _FNV_OFFSET
    for byte in data:
        value = ((value ^ byte) * _FNV_PRIME) % 2**64
    return value


def share_hash(trace_id: str) -> int:
    """The hash the probabilistic policy compares with its threshold."""
    return fnv1a64(DEFAULT_HASH_SALT + bytes.fromhex(trace_id))


def share_threshold(percent: float) -> int:
    return int(_MAX_UINT64 * percent / 100)


def share_keeps(trace_id: str, percent: float) -> bool:
    return share_hash(trace_id) <= share_threshold(percent)


@dataclass(frozen=True)
class Case:
    """What the verification trace is, and how it is made."""

    what: str
    tags: dict[str, str] = field(default_factory=dict)
    duration_us: int = 1000
    wanted: Callable[[str], bool] = lambda trace_id: True

    def trace_id(self, new: Callable[[], str] = new_trace_id) -> str:
        while True:
            candidate = new()
            if self.wanted(candidate):
                return candidate


def verification_case(tail: TailSamplingSettings) -> Case | None:
    """The trace that proves the stack's first policy works; None when no policy can keep a trace."""
    threshold = share_threshold(tail.percent)
    dropped_above = threshold + (_MAX_UINT64 - threshold) // _MARGIN_PART
    kept_below = threshold - threshold // _MARGIN_PART
    outside = f"that the {tail.percent:g} % share would have dropped" if tail.percent < 100 else ""
    if tail.keep_errors:
        return Case(
            what=" ".join(("an error trace", outside)).strip(),
            tags={"error": "true", "http.status_code": "503"},
            wanted=lambda trace_id: tail.percent >= 100 or share_hash(trace_id) > dropped_above,
        )
    if tail.slower_than_ms is not None:
        return Case(
            what=" ".join((f"a trace slower than {tail.slower_than_ms} ms", outside)).strip(),
            duration_us=(tail.slower_than_ms + 100) * 1000,
            wanted=lambda trace_id: tail.percent >= 100 or share_hash(trace_id) > dropped_above,
        )
    if tail.percent > 0:
        return Case(
            what=f"a trace inside the {tail.percent:g} % share",
            wanted=lambda trace_id: share_hash(trace_id) < kept_below,
        )
    return None
