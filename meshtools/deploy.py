"""`make up|preview|destroy STACK=…`: run the Pulumi CLI for a stack against the current kube context.

Uses a local file backend inside the project (state/, git-ignored) unless PULUMI_BACKEND_URL is
set, and creates the stack on first use. Stops at once, saying how to install the CLI, when the
`pulumi` command is missing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
INSTALL_HINT = (
    "The Pulumi CLI is not installed (no `pulumi` on PATH).\n"
    "Install it, then run this command again:\n"
    "  curl -fsSL https://get.pulumi.com | sh      # Linux/macOS, or: brew install pulumi/tap/pulumi\n"
    "  see https://www.pulumi.com/docs/install/ for other platforms"
)
ACTIONS = ("up", "preview", "destroy")


def backend_env(environ: dict[str, str]) -> dict[str, str]:
    """The environment for the CLI: a project-local file backend unless one is configured."""
    env = dict(environ)
    if not env.get("PULUMI_BACKEND_URL"):
        state = PROJECT_DIR / "state"
        state.mkdir(exist_ok=True)
        env["PULUMI_BACKEND_URL"] = f"file://{state}"
    return env


def commands(action: str, stack: str, pulumi: str) -> list[list[str]]:
    select = [pulumi, "stack", "select", stack, "--create", "--cwd", str(PROJECT_DIR)]
    run = [pulumi, action, "--stack", stack, "--cwd", str(PROJECT_DIR)]
    if action == "preview":
        run.append("--diff")
    return [select, run]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make up|preview|destroy", description=__doc__)
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("--stack", required=True, help="stack name: dev, prod, …")
    args = parser.parse_args(argv)
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 127
    if not (PROJECT_DIR / f"Pulumi.{args.stack}.yaml").exists():
        print(f"No Pulumi.{args.stack}.yaml in {PROJECT_DIR}; copy Pulumi.dev.yaml to start one.", file=sys.stderr)
        return 2
    env = backend_env(dict(os.environ))
    if env["PULUMI_BACKEND_URL"].startswith("file://") and "PULUMI_CONFIG_PASSPHRASE" not in env:
        print("note: set PULUMI_CONFIG_PASSPHRASE (or _FILE) for the local backend's secrets", file=sys.stderr)
    for command in commands(args.action, args.stack, pulumi):
        result = subprocess.run(command, env=env, check=False)
        if result.returncode != 0:
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
