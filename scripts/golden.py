"""`make golden`: regenerate the golden files in tests/golden/: one per test stack in tests/stacks/
(`<stack>.plan.yaml`), and one per component test scenario (`components/<component>/<scenario>.yaml`,
the scenarios of tests/components/scenarios.py).

The tests compare with them and never write them; a reviewer reads the golden diff of a change. Run
this only when a change is intended.
"""

from __future__ import annotations

import sys
from pathlib import Path

from meshtools import plan
from meshtools.cli import run_command
from meshtools.stacks import PROJECT_DIR, stack_names
from tests.components import scenarios
from tests.support.components import golden_path

TEST_STACKS = PROJECT_DIR / "tests" / "stacks"
GOLDEN = PROJECT_DIR / "tests" / "golden"


def stack_golden_files() -> dict[Path, str]:
    """Every stack golden file with the text it must hold."""
    return {GOLDEN / f"{name}.plan.yaml": plan.render(name, TEST_STACKS) for name in stack_names(TEST_STACKS)}


def component_golden_files() -> dict[Path, str]:
    """Every component golden file with the text it must hold (the scenarios, their builders and test
    doubles are the component tests' own)."""
    return {golden_path(*key): text for key, text in scenarios.golden_files().items()}


def golden_files() -> dict[Path, str]:
    return stack_golden_files() | component_golden_files()


def main(argv: object = None) -> int:
    expected = golden_files()
    existing = set(GOLDEN.glob("*.yaml")) | set(GOLDEN.glob("components/*/*.yaml"))
    for stale in sorted(existing - set(expected)):
        stale.unlink()
        print(f"removed {stale.relative_to(PROJECT_DIR)} (no such test stack or component scenario)")
    for path, text in expected.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        changed = not path.exists() or path.read_text() != text
        path.write_text(text)
        print(f"{'updated' if changed else 'unchanged'} {path.relative_to(PROJECT_DIR)}")
    for folder in sorted(GOLDEN.glob("components/*/"), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
