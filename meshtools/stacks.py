"""Finding and reading stack files (`Pulumi.<stack>.yaml`) for the offline tools and CI.

Inside `pulumi up` the CLI reads the stack file; the project's own commands (plan, verify, …) and
the tests read it here, with errors that name the file and the line of the key at fault, or the
stacks that exist. The workflows take their stacks from here too (`matrix`), so adding a stack file
is the whole change. Runtime virtualenv only (`make install`): `make validate` and CI's matrix job
run it without the test tools.

    python -m meshtools.stacks [validate] [--stack NAME]   check one stack file, or all of them
    python -m meshtools.stacks matrix [--github-output]   the stacks as JSON for GitHub matrices
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from config.problems import PROJECT, SettingsError, key_path
from config.reading import StackConfig, parse_key, settings_from_config
from config.types import SigNozMode
from meshtools import yamlio
from meshtools.cli import EXIT_ERROR, EXIT_OK, ToolError, run_command

PROJECT_DIR = Path(__file__).resolve().parent.parent
# The GitHub secrets CI reads for a stack: these prefixes and the stack's secret suffix.
KUBECONFIG_SECRET_PREFIX = "KUBECONFIG_"
SIGNOZ_API_KEY_SECRET_PREFIX = "SIGNOZ_API_KEY_"
SUFFIX_KEY = f"{PROJECT}:githubSecretSuffix"


class StackFileError(ToolError):
    """A stack file that is missing or unreadable; the message names the file and what to do."""


@dataclass(frozen=True)
class StackFile:
    name: str
    path: Path

    @property
    def directory(self) -> Path:
        return self.path.parent


@dataclass(frozen=True)
class ConfigFile:
    """A stack file's `config:` block: keys as written (`mesh-tracing:…`, `kubernetes:context`), and
    the line of every key in it, by the path problems name it with (`mesh-tracing:istio.istiod`)."""

    values: dict[str, Any]
    lines: dict[str, int]


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


def read_config(stack: StackFile) -> ConfigFile:
    """The `config:` block with the line of each key (YAML's node tree keeps them)."""
    try:
        text = stack.path.read_text()
        document = yamlio.load(text)
        tree = yamlio.compose(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"{stack.path}:{mark.line + 1}:{mark.column + 1}" if mark else str(stack.path)
        raise StackFileError(f"{where}: not valid YAML: {error.problem or error}") from None
    except (OSError, yaml.YAMLError) as error:
        raise StackFileError(f"{stack.path}: cannot be read: {error}") from None
    if document is None:
        return ConfigFile({}, {})
    if not isinstance(document, dict):
        raise StackFileError(f"{stack.path}: must be a mapping with a `config:` block")
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise StackFileError(f"{stack.path}: `config` must be a mapping of `namespace:key: value`")
    stray = sorted(str(key) for key in document if ":" in str(key))
    if stray:
        raise StackFileError(f"{stack.path}: {', '.join(stray)} must be indented under `config:`")
    return ConfigFile({str(key): value for key, value in config.items()}, _config_lines(tree))


def _config_lines(tree: yaml.Node | None) -> dict[str, int]:
    lines: dict[str, int] = {}
    config = _child(tree, "config")
    if not isinstance(config, yaml.MappingNode):
        return lines
    for key_node, value_node in config.value:
        written = str(key_node.value)
        lines.setdefault(written, key_node.start_mark.line + 1)
        parsed = parse_key(written)
        if parsed is not None and parsed[0] == PROJECT:
            _walk(value_node, (parsed[1],), lines)
    return lines


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        return next((value for name, value in node.value if name.value == key), None)
    return None


def _walk(node: yaml.Node, loc: tuple[int | str, ...], lines: dict[str, int]) -> None:
    """Record the line of every key and list entry below `loc`, as `key_path` names them."""
    children: list[tuple[int | str, yaml.Node, yaml.Node]] = []
    if isinstance(node, yaml.MappingNode):
        children = [(str(name.value), name, value) for name, value in node.value]
    elif isinstance(node, yaml.SequenceNode):
        children = [(index, item, item) for index, item in enumerate(node.value)]
    for part, marked, value in children:
        lines.setdefault(key_path((*loc, part)), marked.start_mark.line + 1)
        _walk(value, (*loc, part), lines)


def load_stack(name: str, directory: Path = PROJECT_DIR) -> StackConfig:
    """A stack's validated settings and kube context, for tools that do not run the program."""
    config = read_config(find_stack(name, directory))
    return settings_from_config(config.values, stack=name, lines=config.lines)


# --------------------------------------------------------------------------- CI: the stacks as GitHub sees them


def secret_suffix(name: str, stack: StackConfig) -> str:
    """The suffix of the GitHub secrets CI reads for a stack: `githubSecretSuffix` when set, else
    the stack's name upper-cased with every character other than a letter or digit as `_`
    (`prod-us` → PROD_US). GitHub secret names are letters, digits and `_`, case-insensitive."""
    return (stack.settings.github_secret_suffix or re.sub(r"[^A-Za-z0-9]", "_", name)).upper()


@dataclass(frozen=True)
class CiStack:
    """One stack as the workflows run it: one entry of a GitHub matrix."""

    stack: str
    production: bool
    decided_by: str
    suffix: str
    signoz_mode: str

    def entry(self) -> dict[str, object]:
        return {
            "stack": self.stack,
            "production": self.production,
            "productionDecidedBy": self.decided_by,
            "kubeconfigSecret": KUBECONFIG_SECRET_PREFIX + self.suffix,
            "signozApiKeySecret": SIGNOZ_API_KEY_SECRET_PREFIX + self.suffix,
            "signozMode": self.signoz_mode,
        }


def ci_stack(name: str, stack: StackConfig) -> CiStack:
    decision = stack.settings.production_decision
    return CiStack(
        stack=name,
        production=stack.settings.is_production,
        decided_by=decision.decided_by,
        suffix=secret_suffix(name, stack),
        signoz_mode=stack.settings.signoz.mode.value,
    )


def shared_secrets(stacks: Sequence[CiStack]) -> dict[tuple[str, ...], str]:
    """Each group of stacks that would read the same GitHub secrets, and what to do about it."""
    groups: dict[str, list[str]] = {}
    for stack in stacks:
        groups.setdefault(stack.suffix, []).append(stack.stack)
    return {
        tuple(names): f"stacks {', '.join(names)} would read the same GitHub secrets "
        f"({KUBECONFIG_SECRET_PREFIX}{suffix}, {SIGNOZ_API_KEY_SECRET_PREFIX}{suffix}); "
        f"set {SUFFIX_KEY} in all but one of them"
        for suffix, names in sorted(groups.items())
        if len(names) > 1
    }


def _survey(directory: Path) -> tuple[list[str], list[CiStack]]:
    """The problems of every stack file in `directory` (one block per stack) and the valid stacks."""
    problems = []
    valid = []
    for name in stack_names(directory):
        try:
            valid.append(ci_stack(name, load_stack(name, directory)))
        except (SettingsError, StackFileError) as error:
            problems.append(f"Pulumi.{name}.yaml: {error}")
    return problems, valid


def check_all(directory: Path = PROJECT_DIR) -> list[str]:
    """The problems of every stack file in `directory`, then the stacks that would share CI secrets
    (empty: all valid)."""
    problems, valid = _survey(directory)
    return problems + list(shared_secrets(valid).values())


def check_one(name: str, directory: Path = PROJECT_DIR) -> str:
    """One line saying what a stack file decides; raises its problems, or that it shares its CI
    secrets with another stack (other stacks' own problems are theirs)."""
    stack = load_stack(name, directory)
    _, valid = _survey(directory)
    clashes = [message for names, message in shared_secrets(valid).items() if name in names]
    if clashes:
        raise StackFileError("\n".join(clashes))
    return describe(name, stack)


def matrix(directory: Path = PROJECT_DIR) -> dict[str, list[dict[str, object]]]:
    """The stacks for GitHub matrices: all of them (preview), and the non-production ones and the
    production ones (deploy, in that order). Refused while any stack file is invalid."""
    problems, stacks = _survey(directory)
    problems += shared_secrets(stacks).values()
    if problems:
        raise StackFileError("the stack files have problems:\n" + "\n".join(problems))
    return {
        "all": [s.entry() for s in stacks],
        "non-production": [s.entry() for s in stacks if not s.production],
        "production": [s.entry() for s in stacks if s.production],
    }


def describe(name: str, stack: StackConfig) -> str:
    """One line saying what a valid stack file decides."""
    ci = ci_stack(name, stack)
    kind = "production" if ci.production else "non-production"
    secrets = [KUBECONFIG_SECRET_PREFIX + ci.suffix]
    if ci.signoz_mode == SigNozMode.DEPLOY.value:
        secrets.append(SIGNOZ_API_KEY_SECRET_PREFIX + ci.suffix)
    return (
        f"Pulumi.{name}.yaml: valid — {kind} ({ci.decided_by}); cluster {stack.settings.cluster}, kube context "
        f"{stack.kube_context or '(the current one)'}, signoz.mode {ci.signoz_mode}; CI secrets {', '.join(secrets)}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`make test` runs this first: an invalid edit of a stack file shows as its problem list alone,
    before pytest reports the same in every test that reads the stack."""
    parser = argparse.ArgumentParser(prog="python -m meshtools.stacks", description=__doc__)
    parser.add_argument("--stacks-dir", type=Path, default=PROJECT_DIR, help="where Pulumi.<stack>.yaml live")
    commands = parser.add_subparsers(dest="command")
    check = commands.add_parser("validate", help="check a stack file (every one without --stack)")
    check.add_argument("--stack", help="the stack's name: Pulumi.<stack>.yaml")
    show = commands.add_parser("matrix", help="the stacks as JSON for GitHub matrices")
    show.add_argument("--github-output", action="store_true", help="as name=value lines for $GITHUB_OUTPUT")
    args = parser.parse_args(argv)
    directory = args.stacks_dir.resolve()
    if args.command == "matrix":
        found = matrix(directory)
        if args.github_output:
            for key, entries in found.items():
                print(f"{key}={json.dumps(entries, separators=(',', ':'))}")
        else:
            print(json.dumps(found, indent=2))
        return EXIT_OK
    if getattr(args, "stack", None):
        print(check_one(args.stack, directory))
        return EXIT_OK
    problems, stacks = _survey(directory)
    problems += shared_secrets(stacks).values()
    for stack in stacks:
        print(describe(stack.stack, load_stack(stack.stack, directory)))
    for block in problems:
        print(f"error: {block}", file=sys.stderr)
    return EXIT_ERROR if problems else EXIT_OK


if __name__ == "__main__":
    sys.exit(run_command(main))
