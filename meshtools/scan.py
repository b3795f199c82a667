"""`make scan`: checkov's Kubernetes checks over the rendered manifests of every test and shipped stack.

Each stack's objects (`meshtools.manifests`: the charts rendered with the stack's values, the
program's own objects added, secrets masked) are written one object per file, so a finding names its
object, and so checkov's rule of skipping any file that holds Helm template syntax (Istio's injector
ConfigMap does) skips that one object only. checkov (its own virtualenv, `requirements/scan.txt`)
scans them all in one run. Every failed check must be waived by name in checkov-waivers.yaml, with
its reason; a failure no waiver covers fails the scan, and so does a waiver that no longer matches
any failure (the gap it excused is closed: remove it).

Exit codes: 0 every failure waived and every waiver used, 1 a new failure or a stale waiver,
2 checkov missing or unusable.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from meshtools.cli import EXIT_CHANGED, EXIT_OK, ToolError, run_command
from meshtools.desired import desired_state, to_yaml
from meshtools.manifests import Manifest, stack_manifests
from meshtools.recording import run_stack
from meshtools.stacks import PROJECT_DIR, stack_names

WAIVERS = PROJECT_DIR / "checkov-waivers.yaml"
TEST_STACKS = PROJECT_DIR / "tests" / "stacks"
CHECKOV = PROJECT_DIR / ".venv-scan" / "bin" / "checkov"
CHECK_ID = re.compile(r"^CKV2?_K8S_[0-9]+$")
TEST_PREFIX = "tests/"
WAIVER_KEYS = frozenset({"check", "objects", "reason", "stacks"})


@dataclass(frozen=True)
class Finding:
    """One failed check on one object of one stack."""

    stack: str
    check: str
    name: str
    title: str  # "Kind namespace/name", as `make manifests` titles objects


@dataclass(frozen=True)
class Waiver:
    check: str
    objects: tuple[str, ...]  # shell patterns over object titles ("Deployment signoz/*")
    reason: str
    stacks: tuple[str, ...] = ("*",)  # shell patterns over stack labels ("tests/demo")

    def covers(self, finding: Finding) -> bool:
        return (
            finding.check == self.check
            and any(fnmatch.fnmatchcase(finding.title, p) for p in self.objects)
            and any(fnmatch.fnmatchcase(finding.stack, p) for p in self.stacks)
        )


@dataclass(frozen=True)
class Figures:
    stack: str
    objects: int
    passed: int
    failed: int
    waived: int


@dataclass
class Verdict:
    figures: list[Figures] = field(default_factory=list)
    new: list[Finding] = field(default_factory=list)
    stale: list[Waiver] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.new and not self.stale


# --------------------------------------------------------------------------- pure parts


def _patterns(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, str) and item for item in value)


def load_waivers(text: str, source: str = "checkov-waivers.yaml") -> list[Waiver]:
    """The waiver file: a list of `{check, objects, reason[, stacks]}`; a malformed entry is named by
    index."""
    document = yaml.safe_load(text)
    if not isinstance(document, list):
        raise ToolError(f"{source}: must be a list of {{check, objects, reason}} entries")
    waivers = []
    for index, entry in enumerate(document):
        where = f"{source}: entry {index}"
        if not isinstance(entry, dict) or not {"check", "objects", "reason"} <= set(entry) <= WAIVER_KEYS:
            raise ToolError(f"{where}: must have the keys check, objects and reason (and may have stacks)")
        check, objects, reason = entry["check"], entry["objects"], entry["reason"]
        stacks = entry.get("stacks", ["*"])
        if not isinstance(check, str) or not CHECK_ID.match(check):
            raise ToolError(f"{where}: check {check!r} is not a checkov Kubernetes check id (CKV_K8S_<n>)")
        if not _patterns(objects):
            raise ToolError(f"{where}: objects must be a non-empty list of patterns such as 'Deployment signoz/*'")
        if not _patterns(stacks):
            raise ToolError(f"{where}: stacks must be a non-empty list of patterns such as 'tests/demo'")
        if not isinstance(reason, str) or len(reason.split()) < 3:
            raise ToolError(f"{where}: {check} needs a reason (a sentence saying why it cannot pass)")
        waivers.append(Waiver(check, tuple(objects), " ".join(reason.split()), tuple(stacks)))
    return waivers


def findings_of(
    report: Mapping[str, Any], files: Mapping[str, tuple[str, str]]
) -> tuple[dict[str, int], list[Finding]]:
    """(passed checks per stack, failed checks) of a checkov JSON report, objects named through
    `files` (the path checkov reports → (stack, object title))."""
    passed: dict[str, int] = {}
    failed: list[Finding] = []
    reports = report if isinstance(report, list) else [report]
    for part in reports:
        results = part.get("results") or {}
        for check in results.get("passed_checks") or []:
            stack, _ = files[_relative(check)]
            passed[stack] = passed.get(stack, 0) + 1
        for check in results.get("failed_checks") or []:
            stack, title = files[_relative(check)]
            failed.append(Finding(stack, str(check["check_id"]), str(check.get("check_name", "")), title))
    return passed, failed


def _relative(check: Mapping[str, Any]) -> str:
    return str(check["file_path"]).lstrip("/")


def judge(
    stacks: Mapping[str, int], passed: Mapping[str, int], failed: Iterable[Finding], waivers: Sequence[Waiver]
) -> Verdict:
    """Figures per stack (`stacks`: its object count), the failures no waiver covers, the waivers that
    cover no failure."""
    verdict = Verdict()
    failed = sorted(set(failed), key=lambda f: (f.stack, f.check, f.title))
    used: set[Waiver] = set()
    waived: dict[str, int] = {}
    for finding in failed:
        covering = [w for w in waivers if w.covers(finding)]
        used.update(covering)
        if covering:
            waived[finding.stack] = waived.get(finding.stack, 0) + 1
        else:
            verdict.new.append(finding)
    for stack, objects in stacks.items():
        count = sum(1 for f in failed if f.stack == stack)
        verdict.figures.append(Figures(stack, objects, passed.get(stack, 0), count, waived.get(stack, 0)))
    verdict.stale = [w for w in waivers if w not in used]
    return verdict


def report_lines(verdict: Verdict, version: str) -> list[str]:
    lines = [f"checkov {version}, Kubernetes checks, over each stack's rendered objects (one object per file)"]
    lines.append(f"  {'stack':<16} {'objects':>7} {'passed':>7} {'failed':>7} {'waived':>7}")
    lines += [f"  {f.stack:<16} {f.objects:>7} {f.passed:>7} {f.failed:>7} {f.waived:>7}" for f in verdict.figures]
    if verdict.new:
        lines.append(f"{len(verdict.new)} failure(s) no waiver covers (fix them, or waive them with a reason):")
        lines += [f"  {f.stack}: {f.check} {f.title} — {f.name}" for f in verdict.new]
    if verdict.stale:
        lines.append(f"{len(verdict.stale)} waiver(s) no failure needs any more (remove them):")
        lines += [f"  {w.check} {', '.join(w.objects)} (stacks {', '.join(w.stacks)})" for w in verdict.stale]
    if verdict.ok:
        lines.append("every failure is waived, and every waiver is still needed")
    return lines


def object_file(index: int, manifest: Manifest) -> str:
    namespace, kind, name = manifest.key
    return f"{index:04d}-{kind}-{namespace or '_'}-{name}.yaml".replace("/", "_")


# --------------------------------------------------------------------------- the shell


def all_stacks() -> list[tuple[str, Path, str]]:
    """(label, directory, name) of every shipped stack, then every test stack (`tests/<name>`)."""
    shipped = [(name, PROJECT_DIR, name) for name in stack_names(PROJECT_DIR)]
    tests = [(f"{TEST_PREFIX}{name}", TEST_STACKS, name) for name in stack_names(TEST_STACKS)]
    return shipped + tests


def render_objects(
    stacks: Sequence[tuple[str, Path, str]], root: Path
) -> tuple[dict[str, int], dict[str, tuple[str, str]]]:
    """Write each stack's objects under `root`, one per file: (object count per stack, relative path →
    (stack, object title))."""
    counts: dict[str, int] = {}
    files: dict[str, tuple[str, str]] = {}
    for label, directory, name in stacks:
        run = run_stack(name, stacks_dir=directory)
        objects = stack_manifests(desired_state(name, run)).objects
        folder = root / label.replace("/", "-")
        folder.mkdir(parents=True)
        for index, manifest in enumerate(objects):
            path = folder / object_file(index, manifest)
            path.write_text(to_yaml(manifest.object))
            files[str(path.relative_to(root))] = (label, manifest.title)
        counts[label] = len(objects)
    return counts, files


def run_checkov(checkov: Path, root: Path) -> tuple[Any, str]:
    """checkov's JSON report over `root`, and its version."""
    checkov = checkov.resolve()  # it runs from the directory of the objects
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_OUTPUT_COLOR": "1"}
    version = subprocess.run([str(checkov), "--version"], capture_output=True, text=True, check=False, env=env)
    result = subprocess.run(
        [str(checkov), "--directory", ".", "--framework", "kubernetes", "--skip-download", "--output", "json"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if result.returncode not in (0, 1):
        raise ToolError(f"checkov failed (exit {result.returncode}): {result.stderr.strip()[-500:]}")
    try:
        return json.loads(result.stdout), version.stdout.strip()
    except json.JSONDecodeError:
        raise ToolError(f"checkov printed no JSON report: {result.stdout[:300]!r} {result.stderr[-300:]!r}") from None


def scan(checkov: Path, waivers_file: Path, only: Sequence[str] = ()) -> tuple[Verdict, str]:
    if not checkov.is_file():
        raise ToolError(f"{checkov} not found: run `make scan` (it installs checkov into .venv-scan)")
    waivers = load_waivers(waivers_file.read_text(), waivers_file.name)
    stacks = [s for s in all_stacks() if not only or s[0] in only]
    unknown = set(only) - {s[0] for s in stacks}
    if unknown:
        known = ", ".join(s[0] for s in all_stacks())
        raise ToolError(f"no stack {', '.join(sorted(unknown))}; stacks: {known}")
    with tempfile.TemporaryDirectory(prefix="mesh-tracing-scan-") as directory:
        root = Path(directory)
        counts, files = render_objects(stacks, root)
        report, version = run_checkov(checkov, root)
    passed, failed = findings_of(report, files)
    # Waivers are judged against every stack: with --stack, only the waivers of the scanned ones count.
    verdict = judge(counts, passed, failed, waivers)
    if only:
        verdict.stale = []
    return verdict, version


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make scan", description=__doc__)
    parser.add_argument("--checkov", type=Path, default=CHECKOV, help="the checkov executable")
    parser.add_argument("--waivers", type=Path, default=WAIVERS, help="the waiver file")
    parser.add_argument(
        "--stack", action="append", default=[], help="scan only this stack (prod, tests/prod, …); repeatable"
    )
    args = parser.parse_args(argv)
    verdict, version = scan(args.checkov, args.waivers, args.stack)
    sys.stdout.write("\n".join(report_lines(verdict, version)) + "\n")
    return EXIT_OK if verdict.ok else EXIT_CHANGED


if __name__ == "__main__":
    sys.exit(run_command(main))
