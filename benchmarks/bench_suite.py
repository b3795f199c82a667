"""Time the fast suite (`pytest`, as `make unit` runs it) here and, with `--against REV`, in a
checkout of REV, alternating the runs so both see the same machine load.

Not part of the test suite: it prints figures. A change that adds tests should keep the fast suite's
median wall time no higher than its base's: reviewers compare the two medians it prints.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from meshtools.cli import run_command
from meshtools.stacks import PROJECT_DIR

REPEATS = 3


def timed_suite(checkout: Path, workers: str) -> tuple[float, float]:
    """Wall and CPU seconds (the suite's processes, user + system) of one run of the fast suite in
    `checkout`: CPU time moves less with the machine's load. A failing suite is an error, not a figure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", workers],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"the fast suite failed in {checkout}:\n{done.stdout[-2000:]}")
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", metavar="REV", help="also time the suite at this git revision")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument(
        "--workers", default="auto", help="pytest-xdist workers (0: one process, the figure least moved by load)"
    )
    args = parser.parse_args(argv)
    checkouts = {"this tree": PROJECT_DIR}
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as scratch:
        if args.against:
            base = Path(scratch) / "base"
            subprocess.run(["git", "worktree", "add", "-q", "--detach", str(base), args.against], check=True)
            (base / ".venv").symlink_to(PROJECT_DIR / ".venv")
            checkouts[args.against] = base
        try:
            times: dict[str, list[tuple[float, float]]] = {name: [] for name in checkouts}
            for _ in range(args.repeats):
                for name, checkout in checkouts.items():
                    times[name].append(timed_suite(checkout, args.workers))
        finally:
            if args.against:
                subprocess.run(["git", "worktree", "remove", "--force", str(checkouts[args.against])], check=False)
    for name, runs in times.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        each = ", ".join(f"{w:.1f}/{c:.1f}" for w, c in runs)
        print(f"{name:>12}: median {wall:.1f} s wall, {cpu:.1f} s CPU over {len(runs)} runs (wall/CPU: {each})")
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
