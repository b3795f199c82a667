"""The GitHub workflows: valid against GitHub's schema, and shaped as the README promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parent.parent / ".github" / "workflows"


def load(name: str) -> dict[str, Any]:
    document: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads the key `on` as true
    return document


def pulumi_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]


def run_commands(job: dict[str, Any]) -> list[str]:
    return [str(s["run"]) for s in job["steps"] if "run" in s]


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml"])
def test_valid_against_the_github_workflow_schema(name: str) -> None:
    command = [Path(sys.executable).parent / "check-jsonschema", "--builtin-schema", "vendor.github-workflows"]
    result = subprocess.run([*map(str, command), str(WORKFLOWS / name)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_preview_runs_per_stack_on_pull_requests_and_comments() -> None:
    workflow = load("preview.yml")
    assert "pull_request" in workflow["on"]
    assert workflow["permissions"]["pull-requests"] == "write"
    preview = workflow["jobs"]["preview"]
    assert preview["needs"] == "test"
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    [step] = pulumi_steps(preview)
    assert step["uses"] == "pulumi/actions@v7"
    assert step["with"]["command"] == "preview"
    assert step["with"]["stack-name"] == "${{ matrix.stack }}"
    assert step["with"]["comment-on-pr"] is True
    assert step["with"]["cloud-url"] == "${{ secrets.PULUMI_BACKEND_URL }}"
    assert step["with"]["policyPacks"] == "policy"
    assert step["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"


def test_preview_installs_like_the_readme_and_posts_the_offline_plan() -> None:
    jobs = load("preview.yml")["jobs"]
    assert "make test" in run_commands(jobs["test"])
    commands = "\n".join(run_commands(jobs["preview"]))
    assert "make install" in commands
    assert "make plan-diff STACK=${{ matrix.stack }} BASE=origin/${{ github.base_ref }}" in commands
    assert "gh pr comment" in commands
    checkout = jobs["preview"]["steps"][0]
    assert checkout["with"]["fetch-depth"] == 0, "the diff needs the base branch"


def test_deploy_runs_up_per_environment_with_prod_protected() -> None:
    workflow = load("deploy.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    dev, prod = workflow["jobs"]["dev"], workflow["jobs"]["prod"]
    assert prod["needs"] == "dev"
    assert prod["environment"] == "production"
    for job, stack in ((dev, "dev"), (prod, "prod")):
        [step] = pulumi_steps(job)
        assert (step["uses"], step["with"]["command"], step["with"]["stack-name"]) == ("pulumi/actions@v7", "up", stack)
        assert "make install" in run_commands(job)
        assert job["concurrency"]["cancel-in-progress"] is False, "never cancel a running deployment"
