"""Time one evaluation of the program under mocks (the stack as shipped, then with 1, 50 and 200
traced namespaces), and the offline rendering of all its releases by the pinned charts.

Not part of the test suite: it prints figures. Targets: under 1 s per evaluation of the stack as
shipped, time growing linearly with the number of traced namespaces, and under 2 s to render every
release of the stack (cold: no render reused).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from meshtools import helm
from meshtools.cli import run_command
from meshtools.desired import desired_state
from meshtools.manifests import stack_manifests
from meshtools.recording import run_stack
from meshtools.stacks import PROJECT_DIR

SIZES = (1, 50, 200)
REPEATS = 5


def namespaces(count: int) -> list[Any]:
    """Half plain names, half with overrides, so both code paths are timed."""
    items: list[Any] = []
    for i in range(count):
        if i % 2:
            items.append({"name": f"app-{i}", "adopt": True, "samplingPercent": 5, "mtlsMode": "STRICT"})
        else:
            items.append(f"app-{i}")
    return items


def measure(stack: str, stacks_dir: Path, overrides: dict[str, Any]) -> tuple[float, int]:
    timings = []
    resources = 0
    for _ in range(REPEATS):
        start = time.perf_counter()
        run = run_stack(stack, overrides, stacks_dir=stacks_dir)
        timings.append(time.perf_counter() - start)
        resources = len(run.resources)
    return statistics.median(timings), resources


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--stack", default="prod", help="the stack file to time (default prod)")
    parser.add_argument("--stacks-dir", type=Path, default=PROJECT_DIR, help="where Pulumi.<stack>.yaml lives")
    args = parser.parse_args(argv)
    stack, stacks_dir = args.stack, args.stacks_dir
    run_stack(stack, stacks_dir=stacks_dir)  # warm-up, and a settings error is reported before any timing
    shipped, shipped_resources = measure(stack, stacks_dir, {})
    print(f"{'case':<24}{'seconds (median of 5)':>24}{'resources':>12}{'ms/resource':>14}")
    print(
        f"{stack + ' as shipped':<24}{shipped:>24.3f}{shipped_resources:>12}{1000 * shipped / shipped_resources:>14.2f}"
    )
    rows = []
    for size in SIZES:
        seconds, count = measure(stack, stacks_dir, {"tracedNamespaces": namespaces(size)})
        rows.append((size, seconds, count))
        label = f"{stack}, {size} namespaces"
        print(f"{label:<24}{seconds:>24.3f}{count:>12}{1000 * seconds / count:>14.2f}")
    (_, t_small, n_small), (_, t_large, n_large) = rows[0], rows[-1]
    slope = (t_large - t_small) / (n_large - n_small)
    print(f"marginal cost: {1000 * slope:.2f} ms per added resource")
    print(f"target <1 s as shipped: {'met' if shipped < 1 else 'MISSED'}")
    render_seconds, objects, engine_name = measure_rendering(stack, stacks_dir)
    print(
        f"rendering every release of {stack} ({engine_name}, median of {REPEATS}, cold): "
        f"{render_seconds:.3f} s, {objects} objects"
    )
    print(f"target <2 s to render: {'met' if render_seconds < 2 else 'MISSED'}")
    return 0


def measure_rendering(stack: str, stacks_dir: Path) -> tuple[float, int, str]:
    state = desired_state(stack, run_stack(stack, stacks_dir=stacks_dir))
    timings, count = [], 0
    for _ in range(REPEATS):
        helm.clear_cache()
        start = time.perf_counter()
        count = len(stack_manifests(state).objects)
        timings.append(time.perf_counter() - start)
    return statistics.median(timings), count, helm.engine().name


if __name__ == "__main__":
    sys.exit(run_command(main))
