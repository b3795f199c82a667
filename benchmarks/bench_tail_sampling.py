"""`make bench-tail`: what share of error traces and of all traces the real SigNoz collector keeps as a
tail sampler, on a generated mix (the `tail` test stack's sampler config; see benchmarks/tail_mix.py)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from benchmarks.tail_mix import expected_kept, generated_mix, run_mix


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench-tail", description=__doc__)
    parser.add_argument("--traces", type=int, default=20_000)
    parser.add_argument("--error-rate", type=float, default=0.002, help="share of traces with an error span")
    parser.add_argument("--percent", type=float, default=1.0, help="tailSampling.percent")
    args = parser.parse_args(argv)
    tail = {"keepErrors": True, "percent": args.percent, "decisionWaitSeconds": 8, "expectedTracesPerSecond": 4000}
    traces = generated_mix(args.traces, args.error_rate)
    with tempfile.TemporaryDirectory(prefix="mesh-tracing-bench-tail-") as folder:
        result = run_mix(traces, tail, Path(folder))
    errors_kept, errors = result.share(t for t in traces if t.error)
    others_kept, others = result.share(t for t in traces if not t.error)
    exact = result.kept == expected_kept(traces, args.percent)
    print(f"traces sent:        {len(traces)} ({errors} with an error span, {args.error_rate:.2%})")
    print(f"error traces kept:  {errors_kept}/{errors} ({errors_kept / max(errors, 1):.1%})")
    print(f"other traces kept:  {others_kept}/{others} ({others_kept / max(others, 1):.2%}; share {args.percent:g} %)")
    print(f"all traces kept:    {len(result.kept)}/{len(traces)} ({len(result.kept) / len(traces):.2%})")
    print(f"decisions as computed by verify's share hash: {'all' if exact else 'NOT all'}")
    print(f"wall time:          {result.seconds:.1f} s (decision wait 8 s)")
    return 0 if exact and errors_kept == errors else 1


if __name__ == "__main__":
    sys.exit(main())
