"""Every command fails cleanly on a bad stack file: one message naming the key (or file and line), exit 2.

Each case is a whole stack file as a user might leave it; each command reads it the way it would in
real use. No traceback may reach the user for an expected failure.
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from benchmarks import bench_program
from meshtools import deploy, plan, stacks
from meshtools.cli import EXIT_ERROR, run_command
from meshtools.verify import cli as verify

VALID = """config:
  mesh-tracing:environment: dev
  mesh-tracing:cluster: c1
"""

CASES = {
    "typo'd key": (VALID + "  mesh-tracing:samplngPercent: 5\n", "mesh-tracing:samplngPercent: got 5 — unknown key"),
    "wrong enum": (VALID + "  mesh-tracing:mtlsMode: STRCT\n", "mesh-tracing:mtlsMode: got 'STRCT' — Input should be"),
    "non-number": (VALID + "  mesh-tracing:samplingPercent: lots\n", "mesh-tracing:samplingPercent: got 'lots'"),
    "bad nested value": (
        VALID + "  mesh-tracing:signoz:\n    collector:\n      replicas: 0\n",
        "mesh-tracing:signoz.collector.replicas: got 0 — Input should be greater than or equal to 1",
    ),
    "min > max": (
        VALID + "  mesh-tracing:istio:\n    istiod: {autoscaleMin: 3, autoscaleMax: 1}\n",
        "mesh-tracing:istio.istiod.autoscaleMin: got 3 — must not exceed autoscaleMax (1)",
    ),
    "misspelt namespace": (
        "config:\n  meshtracing:environment: dev\n  mesh-tracing:cluster: c1\n",
        "meshtracing:environment: got 'dev' — unknown config namespace 'meshtracing'; did you mean",
    ),
    "invalid YAML": (VALID + "  mesh-tracing:samplingPercent: [5\n", "Pulumi.broken.yaml:5:1: not valid YAML"),
}


def _fake_pulumi(directory: Path) -> None:
    fake = directory / "bin" / "pulumi"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)


def commands(stacks: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[Callable[..., int], list[str]]]:
    _fake_pulumi(stacks)
    monkeypatch.setenv("PATH", f"{stacks / 'bin'}")
    monkeypatch.setattr(deploy, "PROJECT_DIR", stacks)
    where = ["--stacks-dir", str(stacks)]
    return {
        "plan": (plan.main, ["render", "--stack", "broken", *where]),
        "verify": (verify.main, ["verify", "--stack", "broken", *where]),
        "restart": (verify.main, ["restart", "--stack", "broken", *where]),
        "set-retention": (verify.main, ["set-retention", "--stack", "broken", *where]),
        "open": (verify.main, ["open", "--stack", "broken", *where]),
        "bench": (bench_program.main, ["--stack", "broken", *where]),
        "deploy": (deploy.main, ["up", "--stack", "broken"]),
    }


def _run(main: Callable[[Sequence[str] | None], int], argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert run_command(main, argv) == EXIT_ERROR
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return captured.err


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_command_names_the_problem_and_exits_2(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    content, expected = CASES[case]
    (tmp_path / "Pulumi.broken.yaml").write_text(content)
    for name, (main, argv) in commands(tmp_path, monkeypatch).items():
        err = _run(main, argv, capsys)
        assert expected in err, f"{name}: {err}"


def test_an_unknown_stack_lists_the_stack_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Pulumi.dev.yaml").write_text(VALID)
    (tmp_path / "Pulumi.prod.yaml").write_text(VALID)
    for name, (main, argv) in commands(tmp_path, monkeypatch).items():
        err = _run(main, [a if a != "broken" else "staging" for a in argv], capsys)
        assert f"no stack 'staging': {tmp_path}/Pulumi.staging.yaml does not exist" in err, name
        assert "(stack files in" in err and "Pulumi.dev.yaml, Pulumi.prod.yaml)" in err, name


def test_a_production_stack_must_name_its_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Pulumi.broken.yaml").write_text(VALID.replace("environment: dev", "environment: production"))
    for name, (main, argv) in commands(tmp_path, monkeypatch).items():
        err = _run(main, argv, capsys)
        assert (
            "kubernetes:context: got <missing> — required: a production stack (environment 'production' has the token"
            in err
        ), name
        assert "(`pulumi config set --stack broken kubernetes:context <context>`)" in err, name


def test_keys_outside_the_config_block_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Pulumi.broken.yaml").write_text("mesh-tracing:environment: dev\nmesh-tracing:cluster: c1\n")
    assert run_command(plan.main, ["render", "--stack", "broken", "--stacks-dir", str(tmp_path)]) == EXIT_ERROR
    assert capsys.readouterr().err.endswith(
        "Pulumi.broken.yaml: mesh-tracing:cluster, mesh-tracing:environment must be indented under `config:`\n"
    )


def test_every_stack_file_is_checked_before_the_tests(tmp_path: Path) -> None:
    """`make test` runs this first, so an invalid edit shows as its problem list, not 10 tracebacks."""
    (tmp_path / "Pulumi.ok.yaml").write_text(VALID)
    (tmp_path / "Pulumi.broken.yaml").write_text(VALID + "  mesh-tracing:samplingPercent: 150\n")
    [block] = stacks.check_all(tmp_path)
    assert block.startswith("Pulumi.broken.yaml: invalid stack configuration (1 problem(s)):\n")
    assert "mesh-tracing:samplingPercent: got 150 — Input should be less than or equal to 100" in block


def test_deploy_states_the_stacks_problems_before_asking_for_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Pulumi.prod.yaml").write_text(
        VALID.replace("environment: dev", "environment: production") + "  kubernetes:context: prod\n"
    )
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    monkeypatch.setattr(deploy, "PROJECT_DIR", tmp_path)
    assert run_command(deploy.main, ["up", "--stack", "prod"]) == EXIT_ERROR
    assert "a production stack needs an explicit state backend" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["restart", "--stack", "dev", "--json"],
            "restart: error: unrecognized arguments: --json (--json is a flag of verify)",
        ),
        (
            ["open", "--stack", "dev", "--apply"],
            "open: error: unrecognized arguments: --apply (--apply is a flag of restart)",
        ),
        (
            ["verify", "--stack", "dev", "--wait=1"],
            "verify: error: unrecognized arguments: --wait=1 (--wait is a flag of set-retention)",
        ),
        (["verify", "--stack", "dev", "--bogus"], "verify: error: unrecognized arguments: --bogus\n"),
        (["verify"], "verify: error: the following arguments are required: --stack"),
    ],
)
def test_each_post_deploy_command_takes_only_its_own_flags(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """One subcommand per tool: a flag of another one is refused before any stack or cluster is read,
    naming the command that takes it."""
    with pytest.raises(SystemExit) as exit_:
        verify.main(argv)
    assert exit_.value.code == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith(f"usage: python -m meshtools.verify.cli {argv[0]} [-h] --stack STACK")
    assert expected in err
