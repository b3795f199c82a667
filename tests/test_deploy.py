"""`make up/preview/destroy`: the CLI hint, the backend rules, the policy pack, the commands run."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from meshtools import deploy
from meshtools.cli import EXIT_ERROR, ToolError, run_command
from tests.conftest import TEST_STACKS


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory holding the dev and prod test stacks, and a fake `pulumi` that logs its calls."""
    for name in ("dev", "prod"):
        shutil.copy2(TEST_STACKS / f"Pulumi.{name}.yaml", tmp_path / f"Pulumi.{name}.yaml")
    fake = tmp_path / "bin" / "pulumi"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$PULUMI_BACKEND_URL $*" >> {tmp_path / "calls"}\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(fake.parent))
    monkeypatch.setattr(deploy, "PROJECT_DIR", tmp_path)
    monkeypatch.setattr(deploy, "LOCAL_STATE", tmp_path / "state")
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    return tmp_path


def test_without_the_cli_it_says_how_to_install(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert run_command(deploy.main, ["up", "--stack", "dev"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: the Pulumi CLI is not installed (no `pulumi` on PATH).")
    assert "https://get.pulumi.com" in err


def test_a_local_file_backend_only_for_non_production_stacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deploy, "LOCAL_STATE", tmp_path / "state")
    assert deploy.backend_env({}, production=False)["PULUMI_BACKEND_URL"] == f"file://{tmp_path / 'state'}"
    explicit = {"PULUMI_BACKEND_URL": "s3://bucket"}
    assert deploy.backend_env(explicit, production=True)["PULUMI_BACKEND_URL"] == "s3://bucket"
    assert deploy.backend_env({"PULUMI_BACKEND_URL": "file:///srv/state"}, production=True)
    with pytest.raises(ToolError, match="a production stack needs an explicit state backend"):
        deploy.backend_env({}, production=True)


def test_dev_selects_the_stack_then_runs_with_the_policy_pack(project: Path) -> None:
    assert run_command(deploy.main, ["preview", "--stack", "dev"]) == 0
    backend = f"file://{project / 'state'}"
    assert (project / "calls").read_text().splitlines() == [
        f"{backend} stack select dev --create --cwd {project}",
        f"{backend} preview --stack dev --cwd {project} --policy-pack {deploy.POLICY_PACK} --diff",
    ]


def test_prod_is_refused_without_an_explicit_backend(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_command(deploy.main, ["up", "--stack", "prod"]) == EXIT_ERROR
    assert "a production stack needs an explicit state backend" in capsys.readouterr().err
    assert not (project / "calls").exists(), "the CLI never ran"


def test_prod_runs_on_its_backend_and_names_its_cluster(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://state")
    assert run_command(deploy.main, ["up", "--stack", "prod"]) == 0
    assert "up prod: cluster prod-test, state s3://state" in capsys.readouterr().err
    assert (project / "calls").read_text().splitlines()[1] == (
        f"s3://state up --stack prod --cwd {project} --policy-pack {deploy.POLICY_PACK}"
    )


def test_destroy_runs_without_the_policy_pack(project: Path) -> None:
    assert run_command(deploy.main, ["destroy", "--stack", "dev"]) == 0
    assert "--policy-pack" not in (project / "calls").read_text()


def test_a_failing_cli_exits_2(project: Path) -> None:
    (project / "bin" / "pulumi").write_text("#!/bin/sh\nexit 255\n")
    assert run_command(deploy.main, ["up", "--stack", "dev"]) == EXIT_ERROR
