"""Run a GitHub workflow step's shell exactly as written, with its `${{ … }}` expressions substituted.

GitHub runs a `run:` step without an explicit shell as `bash -e {0}`, with the step's `env:` on top
of the job's environment; this does the same in a directory of the test's choosing.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


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
