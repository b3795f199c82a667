"""`make plan STACK=…` / `make plan-diff STACK=… BASE=…`: the desired state, offline.

`helm.v3.Release` previews show values only, hide every value of a release that holds a secret, and
need a cluster and credentials. This command evaluates the program under mocks (the same engine
as the tests) and prints every Helm release (chart, version, namespace, values), custom resource
and Kubernetes object as deterministic YAML, secrets masked. `diff` evaluates the program of
another git revision the same way and prints a unified diff.

Exit codes: 0 no change, 1 change (diff only), 2 error (unknown stack, invalid config or YAML,
a git revision that cannot be read).
"""

from __future__ import annotations

import argparse
import difflib
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import yaml

from components.kube import COMPONENT_TYPE_PREFIX, HELM_RELEASE_TYPE
from components.tree import DESCEND, rewrite
from meshtools.cli import EXIT_CHANGED, EXIT_OK, UsageError, run_command
from meshtools.recording import PROGRAM, Resource, Run, run_stack
from meshtools.stacks import PROJECT_DIR

MASK = "[secret]"
# The hidden first line that identifies this tool's PR comment for a stack.
COMMENT_MARKER = "<!-- mesh-tracing plan-diff: {stack} -->"
COMMENT_LIMIT = 60_000  # GitHub refuses comment bodies over 65,536 characters


def mask(value: Any, secrets: set[str]) -> Any:
    """`value` with every string that contains a known secret replaced by MASK."""

    def visit(node: Any) -> Any:
        if isinstance(node, str) and any(secret and secret in node for secret in secrets):
            return MASK
        return DESCEND

    return rewrite(value, visit)


def describe(resource: Resource, run: Run) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for key, value in sorted(resource.inputs.items()):
        masked = mask(value, run.secret_values)
        if key in resource.secret_inputs and masked == value:
            masked = MASK  # secret, but no known secret value inside: hide all of it
        inputs[key] = masked
    entry: dict[str, Any] = {"type": resource.type, "parent": resource.parent_name}
    if resource.dependencies:
        entry["dependsOn"] = sorted(resource.dependency_names)
    if resource.protect:
        entry["protect"] = True
    if resource.type == HELM_RELEASE_TYPE:
        entry["release"] = {k: inputs.pop(k) for k in ("name", "namespace", "chart", "version") if k in inputs}
        entry["repository"] = inputs.pop("repositoryOpts", {}).get("repo")
        entry["values"] = inputs.pop("values", {})
        inputs.pop("compat", None)  # added by the SDK, constant
    if inputs:
        entry["inputs"] = inputs
    return entry


def desired_state(stack: str, run: Run) -> dict[str, Any]:
    resources = {
        r.name: describe(r, run)
        for r in sorted(run, key=lambda r: r.name)
        if not r.type.startswith(COMPONENT_TYPE_PREFIX)
    }
    outputs = {
        k: MASK if k in run.secret_outputs else mask(v, run.secret_values) for k, v in sorted(run.outputs.items())
    }
    return {"stack": stack, "resources": resources, "outputs": outputs}


def to_yaml(document: Any) -> str:
    return yaml.safe_dump(document, sort_keys=True, default_flow_style=False, width=100)


def render(stack: str, stacks_dir: Path = PROJECT_DIR, program: Path = PROGRAM) -> str:
    return to_yaml(desired_state(stack, run_stack(stack, stacks_dir=stacks_dir, program=program)))


@dataclass(frozen=True)
class Rendered:
    text: str
    note: str = ""


def render_at_revision(stack: str, revision: str, project_dir: Path = PROJECT_DIR) -> Rendered:
    """The desired state of `revision`: its program and stack file, evaluated by this engine in a
    fresh process that imports that revision's `components` package."""
    archive = subprocess.run(
        ["git", "-C", str(project_dir), "archive", "--format=tar", revision],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise UsageError(f"cannot read git revision {revision!r}: {archive.stderr.decode().strip()}")
    with tempfile.TemporaryDirectory(prefix="mesh-tracing-plan-") as tmp:
        with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        if not (Path(tmp) / f"Pulumi.{stack}.yaml").exists():
            return Rendered("", f"stack {stack} does not exist at {revision}: everything is new")
        result = subprocess.run(
            [sys.executable, "-m", "meshtools.plan", "render", "--stack", stack, "--revision-dir", tmp],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()
        return Rendered("", f"the desired state at {revision} could not be evaluated ({' '.join(reason[:3])})")
    return Rendered(result.stdout)


def diff(stack: str, base: str, project_dir: Path = PROJECT_DIR) -> tuple[str, bool, str]:
    """(unified diff, whether anything changed, a note about the base) for the working tree."""
    after = render(stack, project_dir, project_dir / "__main__.py")
    before = render_at_revision(stack, base, project_dir)
    lines = list(
        difflib.unified_diff(
            before.text.splitlines(keepends=True),
            after.splitlines(keepends=True),
            f"{stack}@{base}",
            f"{stack}@working-tree",
        )
    )
    return "".join(lines), bool(lines), before.note


def comment_body(stack: str, base: str, text: str, changed: bool, note: str) -> str:
    """The PR comment for one stack; its first line is the hidden marker that finds it again."""
    lines = [COMMENT_MARKER.format(stack=stack), f"### Desired state: `{stack}` (offline plan, secrets masked)", ""]
    if note:
        lines += [f"> {note}", ""]
    if not changed:
        lines.append(f"No change to the desired state of `{stack}` against `{base}`.")
    else:
        shown = text if len(text) <= COMMENT_LIMIT else text[:COMMENT_LIMIT] + "\n… (cut; run `make plan-diff`)\n"
        lines += ["```diff", shown.rstrip("\n"), "```"]
    return "\n".join(lines) + "\n"


def _use_revision(revision_dir: Path) -> None:
    """Make the next import of `components` come from an extracted revision, not from this tree."""
    for name in [m for m in sys.modules if m == "components" or m.startswith("components.")]:
        del sys.modules[name]
    sys.path.insert(0, str(revision_dir))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshtools.plan", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("render", help="print the desired state of a stack as YAML")
    show.add_argument("--stack", required=True)
    show.add_argument("--stacks-dir", type=Path, default=PROJECT_DIR, help="where Pulumi.<stack>.yaml lives")
    show.add_argument("--revision-dir", type=Path, help=argparse.SUPPRESS)
    compare = commands.add_parser("diff", help="unified diff against the desired state at a git revision")
    compare.add_argument("--stack", required=True)
    compare.add_argument("--base", required=True, help="git revision, e.g. origin/main")
    compare.add_argument("--project-dir", type=Path, default=PROJECT_DIR)
    compare.add_argument("--comment", type=Path, help="also write the PR comment body (markdown) here")
    args = parser.parse_args(argv)
    if args.command == "render":
        if args.revision_dir is not None:
            _use_revision(args.revision_dir.resolve())
            sys.stdout.write(render(args.stack, args.revision_dir, args.revision_dir / "__main__.py"))
        else:
            sys.stdout.write(render(args.stack, args.stacks_dir.resolve()))
        return EXIT_OK
    text, changed, note = diff(args.stack, args.base, args.project_dir.resolve())
    if note:
        sys.stderr.write(f"note: {note}\n")
    sys.stdout.write(text if changed else f"no changes to the desired state of {args.stack} since {args.base}\n")
    if args.comment is not None:
        args.comment.write_text(comment_body(args.stack, args.base, text, changed, note))
    return EXIT_CHANGED if changed else EXIT_OK


if __name__ == "__main__":
    sys.exit(run_command(main))
