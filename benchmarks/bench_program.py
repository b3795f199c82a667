"""Time one evaluation of the program under mocks for the prod stack with 1, 50 and 200 namespaces.

Not part of the test suite: it prints figures. Target: under 1 s for the stack as shipped, and
time growing linearly with the number of traced namespaces.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from meshtools.recording import close_event_loop, run_stack

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


def measure(overrides: dict[str, Any]) -> tuple[float, int]:
    timings = []
    resources = 0
    for _ in range(REPEATS):
        start = time.perf_counter()
        run = run_stack("prod", overrides)
        timings.append(time.perf_counter() - start)
        resources = len(run.resources)
    return statistics.median(timings), resources


def main() -> None:
    run_stack("prod")  # warm-up: imports and the first event loop
    shipped, shipped_resources = measure({})
    print(f"{'case':<24}{'seconds (median of 5)':>24}{'resources':>12}{'ms/resource':>14}")
    print(f"{'prod as shipped':<24}{shipped:>24.3f}{shipped_resources:>12}{1000 * shipped / shipped_resources:>14.2f}")
    rows = []
    for size in SIZES:
        seconds, count = measure({"tracedNamespaces": namespaces(size)})
        rows.append((size, seconds, count))
        label = f"prod, {size} namespaces"
        print(f"{label:<24}{seconds:>24.3f}{count:>12}{1000 * seconds / count:>14.2f}")
    (_, t_small, n_small), (_, t_large, n_large) = rows[0], rows[-1]
    slope = (t_large - t_small) / (n_large - n_small)
    print(f"marginal cost: {1000 * slope:.2f} ms per added resource")
    print(f"target <1 s as shipped: {'met' if shipped < 1 else 'MISSED'}")


if __name__ == "__main__":
    try:
        main()
    finally:
        close_event_loop()
