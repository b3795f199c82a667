"""Finding and reading stack files (`Pulumi.<stack>.yaml`) for the offline tools.

Inside `pulumi up` the CLI reads the stack file; the project's own commands (plan, verify, …) and
the tests read it here, with errors that name the file, line and column, or the stacks that exist.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.problems import SettingsError
from components.settings import StackConfig, settings_from_config
from meshtools.cli import EXIT_ERROR, EXIT_OK, ToolError

PROJECT_DIR = Path(__file__).resolve().parent.parent


class StackFileError(ToolError):
    """A stack file that is missing or unreadable; the message names the file and what to do."""


@dataclass(frozen=True)
class StackFile:
    name: str
    path: Path

    @property
    def directory(self) -> Path:
        return self.path.parent


def stack_names(directory: Path) -> list[str]:
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in directory.glob("Pulumi.*.yaml"))


def find_stack(name: str, directory: Path = PROJECT_DIR) -> StackFile:
    path = directory / f"Pulumi.{name}.yaml"
    if not path.is_file():
        existing = ", ".join(f"Pulumi.{n}.yaml" for n in stack_names(directory)) or "none"
        raise StackFileError(
            f"no stack {name!r}: {path} does not exist (stack files in {directory}: {existing}); "
            "copy Pulumi.dev.yaml to start one"
        )
    return StackFile(name, path)


def read_config(stack: StackFile) -> dict[str, Any]:
    """The `config:` block, keys as written (`mesh-tracing:…`, `kubernetes:context`)."""
    try:
        document = yaml.safe_load(stack.path.read_text())
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"{stack.path}:{mark.line + 1}:{mark.column + 1}" if mark else str(stack.path)
        raise StackFileError(f"{where}: not valid YAML: {error.problem or error}") from None
    except (OSError, yaml.YAMLError) as error:
        raise StackFileError(f"{stack.path}: cannot be read: {error}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise StackFileError(f"{stack.path}: must be a mapping with a `config:` block")
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise StackFileError(f"{stack.path}: `config` must be a mapping of `namespace:key: value`")
    stray = sorted(str(key) for key in document if ":" in str(key))
    if stray:
        raise StackFileError(f"{stack.path}: {', '.join(stray)} must be indented under `config:`")
    return {str(key): value for key, value in config.items()}


def check_all(directory: Path = PROJECT_DIR) -> list[str]:
    """The problems of every stack file in `directory`, one block per stack (empty: all valid)."""
    found = []
    for name in stack_names(directory):
        try:
            load_stack(name, directory)
        except (SettingsError, StackFileError) as error:
            found.append(f"Pulumi.{name}.yaml: {error}")
    return found


def load_stack(name: str, directory: Path = PROJECT_DIR) -> StackConfig:
    """A stack's validated settings and kube context, for tools that do not run the program."""
    return settings_from_config(read_config(find_stack(name, directory)))


def main(argv: object = None) -> int:
    """`make test` runs this first: an invalid edit of a stack file shows as its problem list alone,
    before pytest reports the same in every test that reads the stack."""
    problems = check_all()
    for block in problems:
        print(f"error: {block}", file=sys.stderr)
    return EXIT_ERROR if problems else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
