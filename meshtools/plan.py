"""`make plan STACK=…` / `make plan-diff STACK=… BASE=…`: the desired state, offline.

`helm.v3.Release` previews show values only, hide every value of a release that holds a secret, and
need a cluster and credentials. This command evaluates the program under mocks (the same engine
as the tests) and prints every Helm release (chart, version, namespace, values), custom resource
and Kubernetes object as deterministic YAML, secrets masked. `diff` evaluates the program of
another git revision the same way and prints a unified diff; exit code 0 means no change, 1 change.
"""

from __future__ import annotations

import argparse
import difflib
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

import yaml

from meshtools.recording import PROJECT_DIR, Resource, Run, close_event_loop, run_stack

MASK = "[secret]"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
# Component resources are groupings; their children carry the state.
COMPONENT_PREFIX = "mesh-tracing:index:"


def _mask(value: Any, secrets: set[str]) -> Any:
    if isinstance(value, dict):
        return {k: _mask(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, secrets) for v in value]
    if isinstance(value, str) and any(secret and secret in value for secret in secrets):
        return MASK
    return value


def _contains_secret(value: Any, secrets: set[str]) -> bool:
    masked: Any = _mask(value, secrets)
    return bool(masked != value)


def describe(resource: Resource, run: Run) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for key, value in sorted(resource.inputs.items()):
        masked = _mask(value, run.secret_values)
        if key in resource.secret_inputs and not _contains_secret(value, run.secret_values):
            masked = MASK  # secret, but no known secret value inside: hide all of it
        inputs[key] = masked
    entry: dict[str, Any] = {"type": resource.type, "parent": resource.parent_name}
    if resource.dependencies:
        entry["dependsOn"] = sorted(resource.dependency_names)
    if resource.protect:
        entry["protect"] = True
    if resource.type == HELM_RELEASE:
        entry["release"] = {k: inputs.pop(k) for k in ("name", "namespace", "chart", "version") if k in inputs}
        entry["repository"] = inputs.pop("repositoryOpts", {}).get("repo")
        entry["values"] = inputs.pop("values", {})
        inputs.pop("compat", None)  # added by the SDK, constant
    if inputs:
        entry["inputs"] = inputs
    return entry


def desired_state(stack: str, run: Run) -> dict[str, Any]:
    resources = {
        r.name: describe(r, run) for r in sorted(run, key=lambda r: r.name) if not r.type.startswith(COMPONENT_PREFIX)
    }
    outputs = {
        k: MASK if k in run.secret_outputs else _mask(v, run.secret_values) for k, v in sorted(run.outputs.items())
    }
    return {"stack": stack, "resources": resources, "outputs": outputs}


def render(stack: str, project_dir: Path = PROJECT_DIR) -> str:
    state = desired_state(stack, run_stack(stack, project_dir=project_dir))
    return yaml.safe_dump(state, sort_keys=True, default_flow_style=False, width=100)


def render_at_revision(stack: str, revision: str, project_dir: Path = PROJECT_DIR) -> str:
    """The desired state of `revision`: its program and stack file, evaluated in a fresh process
    (so its own `components` package is the one imported) by this engine."""
    archive = subprocess.run(
        ["git", "-C", str(project_dir), "archive", "--format=tar", revision],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise SystemExit(f"cannot read revision {revision!r}: {archive.stderr.decode().strip()}")
    with tempfile.TemporaryDirectory(prefix="mesh-tracing-plan-") as tmp:
        with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        if not (Path(tmp) / f"Pulumi.{stack}.yaml").exists():
            return ""  # the stack did not exist at that revision: everything is new
        result = subprocess.run(
            [sys.executable, "-m", "meshtools.plan", "render", "--stack", stack, "--project-dir", tmp],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise SystemExit(f"evaluating {revision!r} failed:\n{result.stderr}")
        return result.stdout


def diff(stack: str, base: str, project_dir: Path = PROJECT_DIR) -> tuple[str, bool]:
    before = render_at_revision(stack, base, project_dir)
    after = render(stack, project_dir)
    lines = list(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            f"{stack}@{base}",
            f"{stack}@working-tree",
        )
    )
    return "".join(lines), bool(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshtools.plan", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("render", help="print the desired state of a stack as YAML")
    show.add_argument("--stack", required=True)
    show.add_argument("--project-dir", type=Path, default=PROJECT_DIR)
    compare = commands.add_parser("diff", help="unified diff against the desired state at a git revision")
    compare.add_argument("--stack", required=True)
    compare.add_argument("--base", required=True, help="git revision, e.g. origin/main")
    compare.add_argument("--project-dir", type=Path, default=PROJECT_DIR)
    args = parser.parse_args(argv)
    if args.command == "render":
        project_dir = args.project_dir.resolve()
        if project_dir != PROJECT_DIR:
            sys.path.insert(0, str(project_dir))  # that revision's `components` package
        sys.stdout.write(render(args.stack, project_dir))
        return 0
    text, changed = diff(args.stack, args.base, args.project_dir.resolve())
    sys.stdout.write(text if changed else f"no changes to the desired state of {args.stack} since {args.base}\n")
    return 1 if changed else 0


def run_cli() -> int:
    try:
        return main()
    finally:
        close_event_loop()


if __name__ == "__main__":
    sys.exit(run_cli())
