"""Run a GitHub workflow step's shell exactly as written, with its `${{ … }}` expressions substituted.

GitHub runs a `run:` step without an explicit shell as `bash -e {0}`, with the step's `env:` on top
of the job's environment; this does the same in a directory of the test's choosing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshtools import yamlio

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
    document: dict[Any, Any] = yamlio.load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads the key `on` as true
    return document


def step(workflow: str, job: str, name: str) -> dict[str, Any]:
    [found] = [s for s in load(workflow)["jobs"][job]["steps"] if s.get("name") == name]
    return dict(found)


# --------------------------------------------------------------------------- expressions


_TOKEN = re.compile(r"\s*(?:('(?:[^']|'')*')|(==|!=|&&|\|\||[!()\[\].,])|([A-Za-z_][A-Za-z0-9_-]*)|(-?[0-9]+))")


class Expression:
    """A GitHub Actions expression, evaluated as GitHub does for the forms the workflows use: context
    properties (`matrix.stack`, `needs.stacks.outputs.all`, `secrets[matrix.kubeconfigSecret]`),
    'strings', numbers, ==, !=, !, &&, ||, parentheses, and the functions fromJSON, format,
    cancelled, success, always. A secret that is not set is '' (as on GitHub); any other property
    the test did not provide is an error, so a step never runs with an expression left unresolved."""

    def __init__(self, text: str, context: Mapping[str, Any]) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text.rstrip()):
            match = _TOKEN.match(text, position)
            if match is None:
                raise ValueError(f"cannot read the expression {text!r} at {text[position:]!r}")
            group = match.lastindex or 1
            self.tokens.append((("string", "op", "name", "number")[group - 1], match.group(group)))
            position = match.end()
        self.context = context
        self.text = text

    def value(self) -> Any:
        self.position = 0
        found = self._or()
        if self.position != len(self.tokens):
            raise ValueError(f"cannot read the expression {self.text!r}")
        return found

    def _peek(self) -> str | None:
        return self.tokens[self.position][1] if self.position < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.tokens[self.position]
        if expected is not None and token[1] != expected:
            raise ValueError(f"expected {expected!r} in {self.text!r}")
        self.position += 1
        return token

    def _or(self) -> Any:
        left = self._and()
        while self._peek() == "||":
            self._take()
            right = self._and()
            left = left if _truthy(left) else right
        return left

    def _and(self) -> Any:
        left = self._unary()
        while self._peek() == "&&":
            self._take()
            right = self._unary()
            left = right if _truthy(left) else left
        return left

    def _unary(self) -> Any:
        if self._peek() == "!":
            self._take()
            return not _truthy(self._unary())
        left = self._primary()
        if self._peek() in ("==", "!="):
            operator = self._take()[1]
            equal = _equal(left, self._primary())
            return equal if operator == "==" else not equal
        return left

    def _primary(self) -> Any:
        kind, text = self._take()
        if text == "(":
            found = self._or()
            self._take(")")
            return found
        if kind == "string":
            return text[1:-1].replace("''", "'")
        if kind == "number":
            return int(text)
        if self._peek() == "(":
            return self._call(text)
        return self._path(text)

    def _call(self, name: str) -> Any:
        self._take("(")
        args = []
        while self._peek() != ")":
            args.append(self._or())
            if self._peek() == ",":
                self._take()
        self._take(")")
        if name == "fromJSON":
            return json.loads(str(args[0]))
        if name == "format":
            return re.sub(r"\{(\d+)\}", lambda m: render(args[1 + int(m.group(1))]), str(args[0]))
        if name in ("cancelled", "success", "always"):
            return bool(self.context.get(f"{name}()", name != "cancelled"))
        raise ValueError(f"the function {name} is not known to this test helper")

    def _path(self, name: str) -> Any:
        if name in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[name]
        if name not in self.context:
            raise KeyError(f"no value for {name} in this test (expression {self.text!r})")
        node, where = self.context[name], name
        while self._peek() in (".", "["):
            if self._take()[1] == ".":
                key: Any = self._take()[1]
            else:
                key = self._or()
                self._take("]")
            if name == "secrets":
                node = node.get(str(key), "")  # GitHub gives '' for a secret that is not set
            elif isinstance(node, Mapping) and key in node:
                node = node[key]
            else:
                raise KeyError(f"no value for {where}.{key} in this test (expression {self.text!r})")
            where = f"{where}.{key}"
        return node


def _truthy(value: Any) -> bool:
    return value not in (None, False, 0, "")


def _equal(left: Any, right: Any) -> bool:
    """GitHub compares strings case-insensitively, and booleans with strings as their JSON words."""
    if isinstance(left, str) and isinstance(right, str):
        return left.lower() == right.lower()
    return bool(left == right)


def render(value: Any) -> str:
    """An expression's value as GitHub writes it into a string: true/false, JSON for objects."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def evaluate(text: str, context: Mapping[str, Any]) -> Any:
    """The value of a workflow field: one whole `${{ … }}` evaluated (a list stays a list), or a
    string with each `${{ … }}` substituted."""
    whole = _EXPRESSION.fullmatch(text.strip())
    return Expression(whole.group(1), context).value() if whole else substitute(text, context)


def condition(job_or_step: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    """Whether a job or step runs: its `if:` (a bare expression or `${{ … }}`), default true."""
    text = job_or_step.get("if")
    if text is None:
        return True
    whole = _EXPRESSION.fullmatch(str(text).strip())
    return _truthy(Expression(whole.group(1) if whole else str(text), context).value())


def substitute(text: str, context: Mapping[str, Any]) -> str:
    """Replace each `${{ expression }}` by its value in `context`."""
    return _EXPRESSION.sub(lambda match: render(Expression(match.group(1), context).value()), text)


@dataclass(frozen=True)
class StepResult:
    code: int
    stdout: str
    stderr: str


def run_step(
    workflow: str, job: str, name: str, *, cwd: Path, context: Mapping[str, Any], env: Mapping[str, str]
) -> StepResult:
    """Run a step's shell with its `${{ … }}` evaluated in `context` (`matrix`, `secrets`,
    `github`, … as nested mappings)."""
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
