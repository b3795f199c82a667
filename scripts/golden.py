"""`make golden`: regenerate the golden files in tests/golden/ from the test stacks in tests/stacks/.

The tests compare the desired state of every test stack with its golden file and never write it;
a reviewer reads the golden diff of a change. Run this only when a change is intended.
"""

from __future__ import annotations

import sys
from pathlib import Path

from meshtools import plan
from meshtools.cli import run_command
from meshtools.stacks import PROJECT_DIR, stack_names

TEST_STACKS = PROJECT_DIR / "tests" / "stacks"
GOLDEN = PROJECT_DIR / "tests" / "golden"


def golden_files() -> dict[Path, str]:
    """Every golden file with the text it must hold."""
    return {GOLDEN / f"{name}.plan.yaml": plan.render(name, TEST_STACKS) for name in stack_names(TEST_STACKS)}


def main(argv: object = None) -> int:
    GOLDEN.mkdir(exist_ok=True)
    expected = golden_files()
    for stale in sorted(set(GOLDEN.glob("*.yaml")) - set(expected)):
        stale.unlink()
        print(f"removed {stale.relative_to(PROJECT_DIR)} (no such test stack)")
    for path, text in expected.items():
        changed = not path.exists() or path.read_text() != text
        path.write_text(text)
        print(f"{'updated' if changed else 'unchanged'} {path.relative_to(PROJECT_DIR)}")
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
