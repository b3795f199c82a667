"""`make plan STACK=…` / `make plan-diff STACK=… BASE=…`: the desired state and what the cluster
receives, offline.

`helm.v3.Release` previews show values only, hide every value of a release that holds a secret, and
need a cluster and credentials. `render` evaluates the program under mocks (the same engine as the
tests) and prints every Helm release (chart, version, namespace, values), custom resource and
Kubernetes object as deterministic YAML, secrets masked. `diff` does the same for another git
revision and prints two unified diffs: the desired state, and the rendered objects
(`meshtools.manifests`) with one line per workload the change restarts.

Exit codes: 0 no change, 1 change (diff only), 2 error (unknown stack, invalid config or YAML,
a git revision that cannot be read).
"""

from __future__ import annotations

import argparse
import difflib
import functools
import json
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

from meshtools import manifests, yamlio
from meshtools.cli import EXIT_CHANGED, EXIT_OK, ToolError, UsageError, run_command
from meshtools.desired import desired_state, to_yaml
from meshtools.recording import PROGRAM, run_stack
from meshtools.stacks import PROJECT_DIR, SIGNOZ_API_KEY_SECRET_PREFIX, ci_stack, load_stack
from program import PROGRAM_PACKAGES

# The hidden first line that identifies this tool's PR comment for a stack.
COMMENT_MARKER = "<!-- mesh-tracing plan-diff: {stack} -->"
COMMENT_LIMIT = 60_000  # GitHub refuses comment bodies over 65,536 characters


@dataclass
class Views:
    """A stack at one revision: its desired state, and its rendered objects when charts are at hand."""

    plan: str
    objects: list[manifests.Manifest] | None
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        objects = None if self.objects is None else [{"origin": m.origin, "object": m.object} for m in self.objects]
        return {"plan": self.plan, "objects": objects, "notes": self.notes}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Views:
        objects = data["objects"]
        found = None if objects is None else [manifests.Manifest(o["origin"], o["object"]) for o in objects]
        return cls(data["plan"], found, data["notes"])


def render(stack: str, stacks_dir: Path = PROJECT_DIR, program: Path = PROGRAM) -> str:
    return to_yaml(desired_state(stack, run_stack(stack, stacks_dir=stacks_dir, program=program)))


def views(stack: str, stacks_dir: Path, program: Path) -> Views:
    state = desired_state(stack, run_stack(stack, stacks_dir=stacks_dir, program=program))
    try:
        rendered = manifests.stack_manifests(state)
    except ToolError as error:
        return Views(to_yaml(state), None, [f"rendered objects not compared: {error}"])
    return Views(to_yaml(state), rendered.objects, rendered.notes)


def views_at_revision(stack: str, revision: str, project_dir: Path = PROJECT_DIR) -> Views:
    """The stack at `revision`: its program and stack file, evaluated by this engine in a fresh
    process that imports that revision's program packages."""
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
            return Views("", [], [f"stack {stack} does not exist at {revision}: everything is new"])
        result = subprocess.run(
            [sys.executable, "-m", "meshtools.plan", "render", "--stack", stack, "--revision-dir", tmp],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        reason = " ".join(result.stderr.strip().splitlines()[:3])
        return Views("", None, [f"the desired state at {revision} could not be evaluated ({reason})"])
    return Views.from_json(json.loads(result.stdout))


def _unified(before: str, after: str, stack: str, base: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            f"{stack}@{base}",
            f"{stack}@working-tree",
        )
    )


def revision_moves(before_plan: str, after_plan: str) -> list[str]:
    """One line per meshed namespace (and gateway) whose control plane changes: its running proxies
    stay on the old one until its pods are re-created, so each must be restarted to move."""
    before = _mesh_revisions(before_plan)
    after = _mesh_revisions(after_plan)
    lines = []
    for key in sorted(before.keys() & after.keys()):
        if before[key] == after[key]:
            continue
        kind, _, where = key.partition("/")
        what = f"the workloads of namespace {where}" if kind == "namespace" else f"the gateway {where}"
        lines.append(f"restart to move: {what} (revision {before[key]} → {after[key]})")
    return lines


def _mesh_revisions(plan: str) -> dict[str, str]:
    found = _outputs(plan).get("meshRevisions") or {}
    return {str(k): str(v) for k, v in found.items()}


@functools.lru_cache(maxsize=4)
def _state(plan: str) -> dict[str, Any]:
    """A desired state read back from its YAML (read-only: shared between the readers below)."""
    state = yamlio.load(plan) if plan else None
    return state if isinstance(state, dict) else {}


def _outputs(plan: str) -> dict[str, Any]:
    return _state(plan).get("outputs") or {}


def resource_changes(before_plan: str, after_plan: str) -> dict[str, str]:
    """The resources of the desired state that are added, removed or changed, by name."""
    before, after = _state(before_plan).get("resources") or {}, _state(after_plan).get("resources") or {}
    found = dict.fromkeys(after.keys() - before.keys(), "added")
    found |= dict.fromkeys(before.keys() - after.keys(), "removed")
    found |= {name: "changed" for name in before.keys() & after.keys() if before[name] != after[name]}
    return dict(sorted(found.items()))


@dataclass(frozen=True)
class Retention:
    """A change of signoz.traceRetentionDays: not a chart value, so `pulumi up` does not apply it
    (`make set-retention` does). `before` is None for a SigNoz that is new since the base."""

    before: int | None
    after: int


def retention_change(before_plan: str, after_plan: str) -> Retention | None:
    before, after = _outputs(before_plan).get("traceRetentionDays"), _outputs(after_plan).get("traceRetentionDays")
    if not isinstance(after, int) or before == after:
        return None  # unchanged, or no SigNoz in this cluster (remote mode)
    return Retention(before if isinstance(before, int) else None, after)


@dataclass
class Review:
    plan_diff: str
    manifest_diff: str
    restarts: list[str]
    notes: list[str]
    moves: list[str] = field(default_factory=list)
    resources: dict[str, str] = field(default_factory=dict)
    retention: Retention | None = None

    @property
    def changed(self) -> bool:
        return bool(self.plan_diff or self.manifest_diff)


def diff(stack: str, base: str, project_dir: Path = PROJECT_DIR) -> Review:
    load_stack(stack, project_dir)  # an invalid stack file fails before anything is evaluated
    before = views_at_revision(stack, base, project_dir)  # then an unreadable revision, before rendering
    after = views(stack, project_dir, project_dir / "__main__.py")
    notes = list(dict.fromkeys([*before.notes, *after.notes]))
    review = Review(
        _unified(before.plan, after.plan, stack, base),
        "",
        [],
        notes,
        revision_moves(before.plan, after.plan),
        resource_changes(before.plan, after.plan),
        retention_change(before.plan, after.plan),
    )
    if before.objects is not None and after.objects is not None:
        review.manifest_diff = _unified(
            manifests.to_stream(manifests.Manifests(before.objects)),
            manifests.to_stream(manifests.Manifests(after.objects)),
            stack,
            base,
        )
        review.restarts = manifests.workload_changes(before.objects, after.objects)
    return review


# --------------------------------------------------------------------------- what the reviewer reads


def _secret_name(stack: str, project_dir: Path) -> str:
    """The GitHub secret holding the SigNoz API key the deploy workflow applies retention with."""
    return SIGNOZ_API_KEY_SECRET_PREFIX + ci_stack(stack, load_stack(stack, project_dir)).suffix


def retention_lines(stack: str, retention: Retention, secret: str, by_deploy: bool | None) -> list[str]:
    """What happens to a trace-retention change, and what to run where the deploy cannot apply it.
    `by_deploy`: whether the repository has the secret the deploy workflow needs (None: unknown)."""
    if retention.before is None:
        change = f"A new SigNoz keeps the chart's default trace retention until it is set to {retention.after} days"
    else:
        change = f"Trace retention changes from {retention.before} to {retention.after} days"
    change += ": retention is not a chart value, so `pulumi up` does not apply it"
    applied = f"the deploy workflow runs `make set-retention STACK={stack}` right after `pulumi up`"
    by_hand = f"`SIGNOZ_API_KEY=<key> make set-retention STACK={stack} ARGS=--wait`"
    if by_deploy is True:
        return [f"{change}; {applied} (with the secret `{secret}`)."]
    if by_deploy is False:
        return [
            f"{change}, and the deploy workflow cannot: the repository has no secret `{secret}` (a SigNoz "
            f"service-account key with the Admin role). Add it before merging, or after the deploy run {by_hand}."
        ]
    return [f"{change}; {applied} when the repository has the secret `{secret}`, else run {by_hand} after the deploy."]


def summary(stack: str, base: str, review: Review) -> str:
    """One line: what the change does, for `make plan-diff` and the top of the PR comment."""
    if not review.changed:
        return f"{stack}: no change against {base}"
    counts: dict[str, int] = {}
    for what in review.resources.values():
        counts[what] = counts.get(what, 0) + 1
    if counts:
        parts = [", ".join(f"{n} {what}" for what, n in sorted(counts.items())) + " resource(s)"]
    else:
        parts = ["only outputs change" if review.plan_diff else "only rendered objects differ"]
    rolling = [line for line in review.restarts if line.startswith(("will restart", "will start", "will stop"))]
    if review.restarts:
        parts.append(f"{len(rolling)} workload(s) restart, start or stop" if rolling else "no workload restarts")
    if review.moves:
        parts.append(f"{len(review.moves)} revision move(s): make restart after the deploy")
    if review.retention is not None:
        parts.append(f"trace retention → {review.retention.after} days: make set-retention after the deploy")
    return f"{stack}: changes against {base}: " + "; ".join(parts)


def report(stack: str, base: str, review: Review, retention: Sequence[str] = ()) -> str:
    """The plain-text diff `make plan-diff` prints (`retention`: `retention_lines` of the change)."""
    if not review.changed:
        return f"no changes to the desired state of {stack} since {base}\n"
    parts = [review.plan_diff or f"(the desired state of {stack} is unchanged; only rendered objects differ)\n"]
    if retention:
        parts.append("\n# trace retention\n" + "".join(f"# {line}\n" for line in retention))
    if review.moves:
        parts.append(
            "\n# revision moves (after the deploy: make restart)\n" + "".join(f"# {m}\n" for m in review.moves)
        )
    if review.restarts:
        parts.append("\n# rendered objects\n" + "".join(f"# {line}\n" for line in review.restarts))
        parts.append(review.manifest_diff)
    return "".join(parts)


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "\n… (cut; run `make plan-diff`)\n"


def comment_body(stack: str, base: str, review: Review, retention: Sequence[str] = ()) -> str:
    """The PR comment for one stack; its first line is the hidden marker that finds it again."""
    lines = [COMMENT_MARKER.format(stack=stack), f"### Desired state: `{stack}` (offline plan, secrets masked)", ""]
    lines += [f"> {note}" for note in review.notes] + ([""] if review.notes else [])
    if not review.changed:
        lines.append(f"No change to the desired state of `{stack}` against `{base}`.")
        return "\n".join(lines) + "\n"
    lines += [f"**Summary:** {summary(stack, base, review).split(': ', 1)[1]}", ""]
    budget = COMMENT_LIMIT // 2
    if review.plan_diff:
        lines += ["```diff", _bounded(review.plan_diff, budget).rstrip("\n"), "```"]
    else:
        lines.append("The desired state is unchanged; only the rendered objects differ.")
    if retention:
        lines += ["", "#### Trace retention", "", *[f"- {line}" for line in retention], ""]
    if review.moves:
        lines += ["", "#### Revision moves", ""]
        lines += [f"- {line}" for line in review.moves]
        lines += ["", f"After the deploy, run `make restart STACK={stack} ARGS=--apply` to move them.", ""]
    if review.restarts:
        lines += ["", "#### Rendered objects", "", *[f"- {line}" for line in review.restarts], ""]
        lines += ["<details><summary>object-level diff</summary>", "", "```diff"]
        lines += [_bounded(review.manifest_diff, budget).rstrip("\n"), "```", "", "</details>"]
    return "\n".join(lines) + "\n"


def _use_revision(revision_dir: Path) -> None:
    """Make the next import of the program's packages come from an extracted revision, not from this
    tree (a revision of another layout included: whatever the packages were called then)."""
    for name in [m for m in sys.modules if m.split(".")[0] in PROGRAM_PACKAGES]:
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
    compare.add_argument(
        "--deploy-applies-retention",
        choices=("true", "false"),
        help="whether the deploy workflow can run set-retention for this stack (its SigNoz API key secret is set)",
    )
    args = parser.parse_args(argv)
    if args.command == "render":
        if args.revision_dir is not None:  # the base side of `diff`, in its own process
            directory = args.revision_dir.resolve()
            _use_revision(directory)
            json.dump(views(args.stack, directory, directory / "__main__.py").as_json(), sys.stdout)
        else:
            sys.stdout.write(render(args.stack, args.stacks_dir.resolve()))
        return EXIT_OK
    project_dir = args.project_dir.resolve()
    review = diff(args.stack, args.base, project_dir)
    by_deploy = None if args.deploy_applies_retention is None else args.deploy_applies_retention == "true"
    retention = (
        retention_lines(args.stack, review.retention, _secret_name(args.stack, project_dir), by_deploy)
        if review.retention is not None
        else []
    )
    for note in review.notes:
        sys.stderr.write(f"note: {note}\n")
    sys.stdout.write(report(args.stack, args.base, review, retention))
    if review.changed:
        sys.stderr.write(f"summary: {summary(args.stack, args.base, review)}\n")
    if args.comment is not None:
        args.comment.write_text(comment_body(args.stack, args.base, review, retention))
    return EXIT_CHANGED if review.changed else EXIT_OK


if __name__ == "__main__":
    sys.exit(run_command(main))
