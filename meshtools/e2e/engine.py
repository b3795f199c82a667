"""One `pulumi preview`, `up` or `destroy` of the real CLI on a stack, with this project's program.

The CLI runs a Python program through its Python language host, `pulumi-language-python`; that Go
module is not served by the Go module proxy (docs/e2e.md), so it cannot be built. The Python SDK
ships the other way the CLI runs a Python program: its Automation API serves the program over the
language-runtime protocol and starts the CLI with `--client=<address>`. This command does that —
the engine, the providers, the policy pack and the stack's config and secrets are all the real CLI's;
only the process the program runs in differs.

It runs in the e2e virtualenv (`.venv-e2e`: the runtime lock, with the Kubernetes SDK at the
release of the provider built from the proxy). The engine's own output streams to stdout as the CLI
prints it; a JSON summary (change counts, outputs) goes to `--result`.

    python -m meshtools.e2e.engine preview --work-dir DIR --stack NAME [--policy-pack DIR] [--expect-no-changes]
    python -m meshtools.e2e.engine up|destroy --work-dir DIR --stack NAME --pulumi-root DIR --result FILE

Exit codes: 0 done; 1 the CLI failed (its message is printed); 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pulumi import automation as auto

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
PROGRAM = PROJECT_DIR / "__main__.py"


def program() -> None:
    """The project's program, run as the language host runs it: `__main__.py` as `__main__`."""
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    runpy.run_path(str(PROGRAM), run_name="__main__")


def _print(line: str) -> None:
    print(line, flush=True)


class Steps:
    """The engine's resource steps (op, type, URN, changed keys) as its events report them."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []

    def __call__(self, event: auto.EngineEvent) -> None:
        pre = event.resource_pre_event
        if pre is None:
            return
        step = pre.metadata
        op = step.op.value if hasattr(step.op, "value") else str(step.op)
        self.steps.append({"op": op, "type": step.type, "urn": step.urn, "diffs": list(step.diffs or [])})


def run(args: argparse.Namespace, steps: Steps) -> dict[str, Any]:
    workspace = auto.LocalWorkspace(
        work_dir=str(args.work_dir),
        program=program,
        pulumi_command=auto.PulumiCommand(root=str(args.pulumi_root), skip_version_check=False),
    )
    stack = auto.Stack.select(args.stack, workspace)
    options: dict[str, Any] = {"on_output": _print, "on_event": steps, "color": "never"}
    if args.operation == "preview":
        preview = stack.preview(
            policy_packs=[str(p) for p in args.policy_pack] or None,
            expect_no_changes=args.expect_no_changes or None,
            diff=True,
            **options,
        )
        return {"changes": dict(preview.change_summary), "steps": steps.steps}
    if args.operation == "up":
        up = stack.up(policy_packs=[str(p) for p in args.policy_pack] or None, diff=args.diff or None, **options)
        outputs = {k: (None if v.secret else v.value) for k, v in up.outputs.items()}
        return {"changes": dict(up.summary.resource_changes or {}), "outputs": outputs, "steps": steps.steps}
    destroy = stack.destroy(**options)
    return {"changes": dict(destroy.summary.resource_changes or {}), "steps": steps.steps}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshtools.e2e.engine", description=__doc__.split("\n\n")[0])
    parser.add_argument("operation", choices=("preview", "up", "destroy"))
    parser.add_argument("--work-dir", type=Path, required=True, help="holds Pulumi.yaml and the stack file")
    parser.add_argument("--stack", required=True)
    parser.add_argument("--pulumi-root", type=Path, required=True, help="the folder whose bin/ holds the CLI")
    parser.add_argument("--policy-pack", type=Path, action="append", default=[])
    parser.add_argument("--expect-no-changes", action="store_true")
    parser.add_argument("--diff", action="store_true")
    parser.add_argument("--result", type=Path, help="write the JSON summary here")
    args = parser.parse_args(argv)
    steps = Steps()
    code = 0
    try:
        summary = run(args, steps)
    except auto.CommandError as error:
        # The CLI's stdout was streamed above; the error's text repeats it, then holds its stderr.
        print(str(error).rpartition("\n stderr: ")[2].strip(), file=sys.stderr)
        print(f"pulumi {args.operation} failed", file=sys.stderr)
        summary, code = {"error": str(error), "steps": steps.steps}, 1
    if args.result:
        args.result.write_text(json.dumps(summary))
    return code


if __name__ == "__main__":
    sys.exit(main())
