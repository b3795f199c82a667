"""`make up|preview|destroy STACK=…`: run the Pulumi CLI for a stack, on the cluster the stack names.

Before the CLI starts, the stack file is read and validated (the same problem list `pulumi up`
would print), so a production stack without `kubernetes:context` never reaches a cluster. `up` and
`preview` run with the policy pack, as CI does. A project-local file backend (state/, git-ignored)
is used only for non-production stacks and only when no backend is configured; a production stack
needs PULUMI_BACKEND_URL set explicitly (a file backend too, if that is really wanted).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence

from meshtools.cli import EXIT_ERROR, ToolError, run_command
from meshtools.stacks import PROJECT_DIR, load_stack

INSTALL_HINT = (
    "the Pulumi CLI is not installed (no `pulumi` on PATH). Install it, then run this command again:\n"
    "  curl -fsSL https://get.pulumi.com | sh      # Linux/macOS, or: brew install pulumi/tap/pulumi\n"
    "  see https://www.pulumi.com/docs/install/ for other platforms"
)
ACTIONS = ("up", "preview", "destroy")
POLICY_PACK = PROJECT_DIR / "policy"
LOCAL_STATE = PROJECT_DIR / "state"


def backend_env(environ: Mapping[str, str], *, production: bool) -> dict[str, str]:
    """The environment for the CLI: the configured backend, or a project-local file backend for a
    non-production stack. A production stack without an explicit backend is refused."""
    env = dict(environ)
    if env.get("PULUMI_BACKEND_URL"):
        return env
    if production:
        raise ToolError(
            "a production stack needs an explicit state backend: set PULUMI_BACKEND_URL "
            "(e.g. s3://my-pulumi-state?region=eu-west-1, or file:///path if a local file backend is really meant)"
        )
    LOCAL_STATE.mkdir(exist_ok=True)
    env["PULUMI_BACKEND_URL"] = f"file://{LOCAL_STATE}"
    return env


def commands(action: str, stack: str, pulumi: str) -> list[list[str]]:
    select = [pulumi, "stack", "select", stack, "--create", "--cwd", str(PROJECT_DIR)]
    run = [pulumi, action, "--stack", stack, "--cwd", str(PROJECT_DIR)]
    if action in {"up", "preview"}:
        run += ["--policy-pack", str(POLICY_PACK)]
    if action == "preview":
        run.append("--diff")
    return [select, run]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make up|preview|destroy", description=__doc__)
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("--stack", required=True, help="stack name: dev, prod, …")
    args = parser.parse_args(argv)
    # The stack file and the backend rules first: their problems are the user's to fix either way.
    stack = load_stack(args.stack, PROJECT_DIR)
    env = backend_env(os.environ, production=stack.settings.is_production)
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise ToolError(INSTALL_HINT)
    if env["PULUMI_BACKEND_URL"].startswith("file://") and not (
        env.get("PULUMI_CONFIG_PASSPHRASE") or env.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    ):
        print("note: set PULUMI_CONFIG_PASSPHRASE (or _FILE) for the stack's secrets", file=sys.stderr)
    target = stack.kube_context or "the current kube context (the stack sets no kubernetes:context)"
    print(f"{args.action} {args.stack}: cluster {target}, state {env['PULUMI_BACKEND_URL']}", file=sys.stderr)
    for command in commands(args.action, args.stack, pulumi):
        result = subprocess.run(command, env=env, check=False)
        if result.returncode != 0:
            return EXIT_ERROR  # the CLI has printed what went wrong
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
