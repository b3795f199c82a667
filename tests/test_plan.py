"""The offline plan: deterministic desired state with secrets masked, exit codes, clean errors.

The diff against a base branch, run as the preview workflow runs it, is in test_workflows.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from meshtools import manifests, plan
from meshtools.cli import EXIT_CHANGED, EXIT_ERROR, run_command
from meshtools.desired import MASK, mask_all
from meshtools.manifests import MASK_STAND_IN
from meshtools.recording import fake_secret
from tests.conftest import TEST_STACKS, stack_run
from tests.support.workflow import checkout


def test_render_is_deterministic_and_leaves_groupings_out() -> None:
    first = plan.render("prod", TEST_STACKS)
    assert first == plan.render("prod", TEST_STACKS), "generated secrets differ between runs but are masked"
    state = yaml.safe_load(first)
    assert "mesh" not in state["resources"], "component groupings are left out"
    assert state["resources"]["mesh-istiod"]["release"]["chart"] == "istiod"


def test_secrets_are_masked_leaf_by_leaf() -> None:
    run = stack_run("edge")
    text = plan.render("edge", TEST_STACKS)
    for secret in run.secret_values:
        assert secret not in text
    values = yaml.safe_load(text)["resources"]["signoz-release"]["values"]
    assert values["clickhouse"]["password"] == "[secret]"
    assert values["otelCollector"]["ports"] == {"zipkin": {"enabled": True}}, "the rest stays reviewable"
    assert fake_secret("mesh-tracing:clickhousePassword") in run.secret_values
    assert yaml.safe_load(text)["resources"]["kiali-release"]["values"]["login_token"] == {"signing_key": "[secret]"}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository of the tracked project files, with the dev test stack as its only stack."""
    return checkout(tmp_path, TEST_STACKS / "Pulumi.dev.yaml")


def diff_command(repo: Path, stack: str = "dev", base: str = "HEAD") -> list[str]:
    return ["diff", "--stack", stack, "--base", base, "--project-dir", str(repo)]


def test_an_mtls_change_restarts_nothing(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Exit code 1 with both diffs (exit 0 for no change is run through the workflow step)."""
    stack_file = repo / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("mtlsMode: PERMISSIVE", "mtlsMode: STRICT"))
    assert run_command(plan.main, diff_command(repo)) == EXIT_CHANGED
    desired, _, rendered = capsys.readouterr().out.partition("\n# rendered objects\n")
    assert [ln for ln in desired.splitlines() if ln.startswith(("-  ", "+  "))] == [
        "-  mtlsMode: PERMISSIVE",
        "+  mtlsMode: STRICT",
        "-    mtlsMode: PERMISSIVE",
        "+    mtlsMode: STRICT",
        "-          mode: PERMISSIVE",
        "+          mode: STRICT",
    ]
    assert rendered.splitlines()[0] == "# no workload restarts", "mTLS reaches proxies over xDS"
    assert [ln for ln in rendered.splitlines() if ln.startswith(("-  ", "+  "))] == [
        "-    mode: PERMISSIVE",
        "+    mode: STRICT",
    ]


def test_a_stack_new_since_the_base_is_all_new(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy2(TEST_STACKS / "Pulumi.minimal.yaml", repo / "Pulumi.qa.yaml")
    assert run_command(plan.main, diff_command(repo, "qa")) == EXIT_CHANGED
    captured = capsys.readouterr()
    assert "note: stack qa does not exist at HEAD: everything is new" in captured.err
    assert "+  mesh-istiod:" in captured.out


@pytest.mark.parametrize(
    ("stack", "base", "message"),
    [
        ("dev", "no-such-rev", "error: cannot read git revision 'no-such-rev'"),
        ("staging", "HEAD", "error: no stack 'staging': "),
    ],
)
def test_errors_exit_2_with_one_message(
    repo: Path, capsys: pytest.CaptureFixture[str], stack: str, base: str, message: str
) -> None:
    assert run_command(plan.main, diff_command(repo, stack, base)) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert "Traceback" not in err
    if stack == "staging":
        assert "stack files in" in err and "Pulumi.dev.yaml" in err


def test_an_unknown_stack_names_the_stacks_that_exist(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_command(plan.main, ["render", "--stack", "nope", "--stacks-dir", str(TEST_STACKS)]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "Pulumi.dev.yaml, Pulumi.edge.yaml, Pulumi.minimal.yaml, Pulumi.prod.yaml" in err


def test_the_comment_body_starts_with_its_marker_and_is_bounded() -> None:
    review = plan.Review(
        "+x\n" * 40_000, "+y\n" * 40_000, ["will restart: Deployment a/b (its pod template changes)"], []
    )
    body = plan.comment_body("prod", "origin/main", review)
    assert body.startswith("<!-- mesh-tracing plan-diff: prod -->\n")
    assert len(body) < 65_536, "GitHub's limit for a comment"
    assert body.count("… (cut; run `make plan-diff`)") == 2
    assert "- will restart: Deployment a/b (its pod template changes)" in body


def test_a_tag_move_names_the_workloads_to_restart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Moving the `default` tag: the diff and the PR comment name each namespace that must restart."""
    repo = checkout(tmp_path / "repo", TEST_STACKS / "Pulumi.canary.yaml")  # as the stack `dev`
    stack_file = repo / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("tags: {default: default,", "tags: {default: 1-31,"))
    comment = tmp_path / "comment.md"
    assert run_command(plan.main, [*diff_command(repo), "--comment", str(comment)]) == EXIT_CHANGED
    out = capsys.readouterr().out
    assert (
        "# revision moves (after the deploy: make restart)\n"
        "# restart to move: the workloads of namespace mesh-tracing-demo (revision default → 1-31)\n"
        "# restart to move: the workloads of namespace payments (revision default → 1-31)\n"
    ) in out
    body = comment.read_text()
    assert "#### Revision moves\n\n- restart to move: the workloads of namespace mesh-tracing-demo" in body
    assert "run `make restart STACK=dev ARGS=--apply` to move them" in body


# --------------------------------------------------------------------------- through make


def make(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A target run as a user runs it, in the checkout (DEV= and RUNTIME=: its .venv is the test
    environment's, already installed), without charts: the desired state is compared alone."""
    return subprocess.run(
        ["make", "--no-print-directory", *args, "DEV=", "RUNTIME="],
        cwd=repo,
        env=os.environ | {"MESH_TRACING_CHART_MIRROR": ""},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_through_make_a_change_is_not_a_failure(repo: Path) -> None:
    """Finding 5: `make plan-diff` on a change ended with make's `Error 1` and exit 2."""
    stack_file = repo / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("samplingPercent: 100", "samplingPercent: 20"))
    result = make(repo, "plan-diff", "STACK=dev", "BASE=HEAD")
    assert result.returncode == 0, result.stderr
    assert "+  samplingPercent: 20.0" in result.stdout
    assert result.stderr.splitlines()[-1] == "summary: dev: changes against HEAD: 1 changed resource(s)"
    assert "Error" not in result.stderr
    stack_file.write_text(stack_file.read_text().replace("samplingPercent: 20", "samplingPercent: 200"))
    failed = make(repo, "plan-diff", "STACK=dev", "BASE=HEAD")
    assert failed.returncode == 2, "errors still fail"
    assert "mesh-tracing:samplingPercent: got 200" in failed.stderr


# --------------------------------------------------------------------------- masked values


def test_masked_values_keep_their_type_in_the_rendered_objects() -> None:
    """Finding 7: the SigNoz chart writes the ClickHouse password unquoted, so the mask `[secret]`
    rendered as the YAML list `- secret`. A masked string stays a string."""
    objects = [o for o in yaml.safe_load_all(manifests.render("edge", TEST_STACKS)) if o]
    [installation] = [o for o in objects if o.get("kind") == "ClickHouseInstallation"]
    assert installation["spec"]["configuration"]["users"]["admin/password"] == MASK
    for obj in objects:
        assert MASK_STAND_IN not in json.dumps(obj), "the stand-in a chart is given never shows"


def test_a_secret_input_without_a_known_secret_keeps_its_shape() -> None:
    assert mask_all({"stringData": {"token": "abc", "n": 3}, "list": ["x"]}) == {
        "stringData": {"token": MASK, "n": MASK},
        "list": [MASK],
    }
