"""An e2e test stack in its own Pulumi workspace: the real CLI, a local file backend, a passphrase.

Each stack gets a folder holding a copy of Pulumi.yaml and of its stack file; the state lives in a
file backend under the run's temporary folder, and secrets are encrypted with a passphrase. Commands
that do not run the program (`stack init`, `config set`, `plugin install`, `stack export`) are the
CLI's own; `preview`, `up` and `destroy` go through `meshtools.e2e.engine` in the e2e virtualenv.
Every command's output is printed as it comes and kept for the assertions.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
E2E_PYTHON = PROJECT_DIR / ".venv-e2e" / "bin" / "python"


@dataclass(frozen=True)
class Done:
    """A finished command: exit code, its whole output (stdout and stderr, in order), its summary."""

    returncode: int
    output: str
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def changes(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in (self.summary.get("changes") or {}).items()}

    @property
    def steps(self) -> list[dict[str, Any]]:
        return list(self.summary.get("steps") or [])

    def changed(self) -> list[dict[str, Any]]:
        """Steps that change something (every op but `same`)."""
        return [s for s in self.steps if s["op"] != "same"]


def pulumi_env(home: Path, pulumi_bin: Path, passphrase: str) -> dict[str, str]:
    """The environment every CLI run gets: its own PULUMI_HOME (plugins), a file backend, the
    passphrase, no update check and no plugin downloads (nothing is fetched from the network)."""
    env = dict(os.environ)
    env.update(
        {
            "PULUMI_HOME": str(home),
            "PULUMI_BACKEND_URL": f"file://{home / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE": passphrase,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            # The provider's Helm keeps its repository cache and config here, not in the user's.
            "HELM_CACHE_HOME": str(home / "helm" / "cache"),
            "HELM_CONFIG_HOME": str(home / "helm" / "config"),
            "HELM_DATA_HOME": str(home / "helm" / "data"),
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "false",
            "PATH": f"{pulumi_bin}{os.pathsep}{env.get('PATH', '')}",
            "NO_PROXY": ",".join(filter(None, [env.get("NO_PROXY", ""), "127.0.0.1", "localhost"])),
        }
    )
    env["no_proxy"] = env["NO_PROXY"]
    (home / "state").mkdir(parents=True, exist_ok=True)
    return env


def policy_launcher(folder: Path, pulumi_bin: Path, policy_pack: Path, virtualenv: Path) -> Path:
    """An executable that starts a Python policy pack as a binary analyzer plugin.

    The CLI (v3.276.0) starts a Python policy pack folder through the Python language host, which
    the Go module proxy does not serve. It also runs an executable given as `--policy-pack` as an
    analyzer plugin, passing the engine's address. This wrapper hands that address, the pack folder
    and its virtualenv to `pulumi-analyzer-policy-python`, the launcher the CLI used for Python
    packs up to v3.220 (taken unchanged from the sdk/v3 module by tools/pulumi), which runs
    `python -m pulumi.policy` — the Python SDK's policy entry point — on the pack.
    """
    launcher = folder / "mesh-tracing-policy-pack"
    released = pulumi_bin / "pulumi-analyzer-policy-python"
    launcher.write_text(f'#!/bin/sh\ncd "{policy_pack}" && exec "{released}" "$1" . -virtualenv="{virtualenv}"\n')
    launcher.chmod(0o755)
    return launcher


def stream(command: Sequence[str], cwd: Path, env: Mapping[str, str], hide: Sequence[str] = ()) -> tuple[int, str]:
    """Run `command`, printing it (`hide`: arguments shown as [secret]) and its output line by line
    as it comes; return the output whole."""
    shown = ["[secret]" if part in hide else part for part in command]
    print(f"\n$ {' '.join(shown)}", flush=True)
    process = subprocess.Popen(
        list(command), cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        sys.stdout.write(line)
        lines.append(line)
    sys.stdout.flush()
    return process.wait(), "".join(lines)


@dataclass
class E2EStack:
    name: str
    stack_file: Path
    env: dict[str, str]  # pulumi_env(…) plus KUBECONFIG of the stack's cluster
    pulumi_root: Path  # the folder whose bin/ holds the CLI
    policy_pack: Path  # what `--policy-pack` is given (policy_launcher for the project's pack)
    work_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.work_dir = Path(tempfile.mkdtemp(prefix=f"mesh-tracing-{self.name}-"))
        shutil.copyfile(PROJECT_DIR / "Pulumi.yaml", self.work_dir / "Pulumi.yaml")
        shutil.copyfile(self.stack_file, self.work_dir / f"Pulumi.{self.name}.yaml")

    @property
    def file(self) -> Path:
        """The stack file the CLI reads and writes (`config set` edits it, with its encryption salt)."""
        return self.work_dir / f"Pulumi.{self.name}.yaml"

    def cli(self, *args: str, check: bool = True, hide: Sequence[str] = ()) -> Done:
        """A command of the real CLI on this stack (`--stack` added where the command takes it)."""
        command = [str(self.pulumi_root / "bin" / "pulumi"), *args]
        if args[0] in {"config", "stack"} and args[:2] != ("stack", "init"):
            command += ["--stack", self.name]
        code, output = stream(command, self.work_dir, self.env, hide)
        if check and code != 0:
            raise AssertionError(f"`pulumi {' '.join(args)}` failed with exit {code}:\n{output}")
        return Done(code, output)

    def init(self, plain: Mapping[str, str], secrets: Mapping[str, str]) -> None:
        self.cli("stack", "init", self.name, "--secrets-provider", "passphrase")
        for key, value in plain.items():
            self.cli("config", "set", key, value)
        for key, value in secrets.items():
            self.cli("config", "set", "--secret", key, value, hide=[value])

    def engine(self, operation: str, *flags: str) -> Done:
        """`preview`, `up` or `destroy` through meshtools.e2e.engine (the program served to the CLI)."""
        result = self.work_dir / f".{operation}-result.json"
        result.unlink(missing_ok=True)
        command = [
            str(E2E_PYTHON),
            "-m",
            "meshtools.e2e.engine",
            operation,
            "--work-dir",
            str(self.work_dir),
            "--stack",
            self.name,
            "--pulumi-root",
            str(self.pulumi_root),
            "--result",
            str(result),
            *flags,
        ]
        code, output = stream(command, PROJECT_DIR, self.env)
        summary = json.loads(result.read_text()) if result.exists() else {}
        return Done(code, output, summary)

    def preview(self, *flags: str) -> Done:
        return self.engine("preview", "--policy-pack", str(self.policy_pack), *flags)

    def up(self) -> Done:
        return self.engine("up", "--policy-pack", str(self.policy_pack))

    def destroy(self) -> Done:
        return self.engine("destroy")

    def remove(self) -> None:
        shutil.rmtree(self.work_dir, ignore_errors=True)
