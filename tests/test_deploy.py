"""`make up/preview/destroy`: a clear message without the CLI, the local backend, the commands run."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from meshtools import deploy


def test_without_the_cli_it_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert deploy.main(["up", "--stack", "dev"]) == 127
    err = capsys.readouterr().err
    assert err.startswith("The Pulumi CLI is not installed (no `pulumi` on PATH).")
    assert "https://get.pulumi.com" in err


def test_local_file_backend_unless_one_is_configured() -> None:
    assert deploy.backend_env({})["PULUMI_BACKEND_URL"] == f"file://{deploy.PROJECT_DIR / 'state'}"
    assert deploy.backend_env({"PULUMI_BACKEND_URL": "s3://bucket"})["PULUMI_BACKEND_URL"] == "s3://bucket"


def test_unknown_stack_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "pulumi"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert deploy.main(["preview", "--stack", "staging"]) == 2
    assert "No Pulumi.staging.yaml" in capsys.readouterr().err


def test_selects_or_creates_the_stack_then_runs_the_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    log = tmp_path / "calls"
    fake = tmp_path / "pulumi"
    fake.write_text(f'#!/bin/sh\necho "$PULUMI_BACKEND_URL $*" >> {log}\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PULUMI_BACKEND_URL", "file:///tmp/state")
    assert deploy.main(["preview", "--stack", "prod"]) == 0
    project = deploy.PROJECT_DIR
    assert log.read_text().splitlines() == [
        f"file:///tmp/state stack select prod --create --cwd {project}",
        f"file:///tmp/state preview --stack prod --cwd {project} --diff",
    ]
