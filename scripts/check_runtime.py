"""Run by a runtime-only virtualenv (`make check-runtime`): the program, the policy pack and the
stack-file reader (`make validate`, CI's stacks job) import, and no test or lint tool is there.

Pulumi runs both the program and the policy pack in the project's virtualenv, so everything they
import must come from the runtime lock file alone.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Packages only `make install-dev` may bring: tests, linters, validators, the embedded ClickHouse,
# the Kubernetes client of the post-deploy tools.
DEV_ONLY = ("pytest", "hypothesis", "mypy", "ruff", "chdb", "jsonschema", "kubernetes_validate", "kubernetes")


def main() -> int:
    sys.path.insert(0, str(ROOT))
    packages: tuple[str, ...] = importlib.import_module("program").PROGRAM_PACKAGES
    modules = [
        f"{package}.{p.stem}"
        for package in packages
        for p in sorted((ROOT / package).glob("*.py"))
        if p.stem != "__init__"
    ]
    modules.append("policy.mesh_policies")
    # `make validate` and the workflows' stacks job run with the runtime alone too.
    modules.append("meshtools.stacks")
    # The post-deploy rules the tests run on rendered stacks: no Kubernetes client below them.
    modules.append("meshtools.datapath")
    for name in modules:
        importlib.import_module(name)
    present = [name for name in DEV_ONLY if importlib.util.find_spec(name) is not None]
    if present:
        print(f"the runtime environment holds dev-only packages: {', '.join(present)}", file=sys.stderr)
        return 1
    print(f"runtime environment OK: imported {len(modules)} modules; none of {', '.join(DEV_ONLY)} installed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
