"""Run a GitHub workflow step's shell exactly as written, with its `${{ … }}` expressions substituted.

GitHub runs a `run:` step without an explicit shell as `bash -e {0}`, with the step's `env:` on top
of the job's environment; this does the same in a directory of the test's choosing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo), *args], check=True)


def checkout(root: Path, dev_stack: Path) -> Path:
    """A git repository of this project's tracked files as actions/checkout leaves a pull request:
    committed on `main`, also known as origin/main, `.venv` in place. Its only stack is `dev`, from
    `dev_stack`, so nothing here depends on the values of the shipped stack files."""
    project = WORKFLOWS.parent.parent
    files = subprocess.run(["git", "ls-files"], cwd=project, capture_output=True, text=True, check=True)
    for name in files.stdout.split():
        if (project / name).is_file() and not (name.startswith("Pulumi.") and name != "Pulumi.yaml"):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(project / name, root / name)
    shutil.copy2(dev_stack, root / "Pulumi.dev.yaml")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    git(root, "update-ref", "refs/remotes/origin/main", "HEAD")
    provide_venv(root)  # what `make install-dev` made, outside git
    return root


def provide_venv(directory: Path) -> None:
    """Steps run `.venv/bin/python`, the virtualenv `make install-dev` leaves in the checkout. In a
    test the checkout is a temporary copy: give it the environment running the tests, wherever that
    lives (the project's `.venv`, another virtualenv, or a plain interpreter)."""
    venv = directory / ".venv"
    if venv.is_symlink() or venv.is_file():
        venv.unlink()
    if sys.prefix != sys.base_prefix:  # a virtualenv: link all of it, so its pyvenv.cfg is found
        venv.symlink_to(sys.prefix, target_is_directory=True)
    else:
        (venv / "bin").mkdir(parents=True, exist_ok=True)
        (venv / "bin" / "python").symlink_to(sys.executable)


def load(name: str) -> dict[str, Any]:
    document: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads the key `on` as true
    return document


def step(workflow: str, job: str, name: str) -> dict[str, Any]:
    [found] = [s for s in load(workflow)["jobs"][job]["steps"] if s.get("name") == name]
    return dict(found)


def substitute(text: str, context: Mapping[str, str]) -> str:
    """Replace each `${{ expression }}` by its value in `context`; an unknown expression is an error,
    so a test never runs a step with an expression left unresolved."""

    def value(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression not in context:
            raise KeyError(f"no value for the expression ${{{{ {expression} }}}} in this test")
        return context[expression]

    return _EXPRESSION.sub(value, text)


@dataclass(frozen=True)
class StepResult:
    code: int
    stdout: str
    stderr: str


def run_step(
    workflow: str, job: str, name: str, *, cwd: Path, context: Mapping[str, str], env: Mapping[str, str]
) -> StepResult:
    found = step(workflow, job, name)
    script = substitute(str(found["run"]), context)
    step_env = {key: substitute(str(value), context) for key, value in (found.get("env") or {}).items()}
    result = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=cwd,
        env={**os.environ, **env, **step_env},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    return StepResult(result.returncode, result.stdout, result.stderr)
