"""The GitHub workflows: valid against GitHub's schema, and their steps' shell run exactly as written.

The plan step runs in a temporary git repository holding this project with a test stack as its
`dev` stack, against a base branch; the comment step talks to a fake GitHub API on loopback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshtools.plan import COMMENT_MARKER
from meshtools.stacks import PROJECT_DIR
from tests.conftest import TEST_STACKS
from tests.support.fake_apiserver import FakeApiServer, Request, serve
from tests.support.workflow import WORKFLOWS, checkout, load, provide_venv, run_step

PLAN_STEP = "Offline desired-state diff against the base branch"
COMMENT_STEP = "Post or update this stack's plan comment"
KUBECONFIG_STEP = "Kubeconfig for the stack's cluster"


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml"])
def test_valid_against_the_github_workflow_schema(name: str) -> None:
    command = [Path(sys.executable).parent / "check-jsonschema", "--builtin-schema", "vendor.github-workflows"]
    result = subprocess.run([*map(str, command), str(WORKFLOWS / name)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_preview_runs_per_stack_after_the_tests_with_the_policy_pack() -> None:
    workflow = load("preview.yml")
    assert "pull_request" in workflow["on"]
    assert workflow["permissions"]["pull-requests"] == "write"
    preview = workflow["jobs"]["preview"]
    assert preview["needs"] == "test"
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    runs = [s.get("run") for s in workflow["jobs"]["test"]["steps"]]
    assert runs.index("make scan") > runs.index("make test"), "the scanner runs after the tests"
    [pulumi] = [s for s in preview["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]
    assert (pulumi["with"]["command"], pulumi["with"]["policyPacks"]) == ("preview", "policy")
    assert preview["steps"][0]["with"]["fetch-depth"] == 0, "the diff needs the base branch"


def test_deploy_installs_the_runtime_only_and_never_cancels() -> None:
    workflow = load("deploy.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    dev, prod = workflow["jobs"]["dev"], workflow["jobs"]["prod"]
    assert (prod["needs"], prod["environment"]) == ("dev", "production")
    for job, stack in ((dev, "dev"), (prod, "prod")):
        [pulumi] = [s for s in job["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]
        assert (pulumi["with"]["command"], pulumi["with"]["stack-name"], pulumi["with"]["policyPacks"]) == (
            "up",
            stack,
            "policy",
        )
        assert any(s.get("run") == "make install" for s in job["steps"]), "runtime lock only, no test tools"
        assert job["concurrency"]["cancel-in-progress"] is False, "never cancel a running deployment"


# --------------------------------------------------------------------------- the plan step, run


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return checkout(tmp_path_factory.mktemp("repo"), TEST_STACKS / "Pulumi.dev.yaml")


@pytest.fixture
def stack_file(repo: Path) -> Iterator[Path]:
    path = repo / "Pulumi.dev.yaml"
    original = path.read_text()
    yield path
    path.write_text(original)
    (repo / "plan-comment.md").unlink(missing_ok=True)


def plan_step(repo: Path, base_ref: str = "main") -> tuple[int, str, str]:
    context = {"matrix.stack": "dev", "github.base_ref": base_ref}
    result = run_step("preview.yml", "preview", PLAN_STEP, cwd=repo, context=context, env={})
    comment = repo / "plan-comment.md"
    return result.code, comment.read_text() if comment.exists() else "", result.stderr


def test_plan_step_with_no_change(repo: Path, stack_file: Path) -> None:
    code, body, _ = plan_step(repo)
    assert code == 0
    assert body.splitlines()[0] == COMMENT_MARKER.format(stack="dev")
    assert "No change to the desired state of `dev` against `origin/main`." in body


def test_plan_step_with_a_change_posts_the_diff(repo: Path, stack_file: Path) -> None:
    stack_file.write_text(stack_file.read_text().replace("samplingPercent: 100", "samplingPercent: 50"))
    code, body, _ = plan_step(repo)
    assert code == 0, "a changed desired state is what the step exists for, not a failure"
    desired, _, rendered = body.partition("#### Rendered objects")
    lines = desired.splitlines()
    assert lines[0] == COMMENT_MARKER.format(stack="dev")
    assert "```diff" in lines
    changed = [line for line in lines if line.startswith(("-  ", "+  "))]
    assert changed == [
        "-  samplingPercent: 100.0",
        "+  samplingPercent: 50.0",
        "-    samplingPercent: 100.0",
        "+    samplingPercent: 50.0",
        "-          randomSamplingPercentage: 100",
        "+          randomSamplingPercentage: 50",
    ], "the outputs and the mesh Telemetry, nothing else"
    assert "- no workload restarts" in rendered.splitlines(), "sampling reaches running proxies over xDS"
    assert [line for line in rendered.splitlines() if line.startswith(("-  ", "+  "))] == [
        "-    randomSamplingPercentage: 100",
        "+    randomSamplingPercentage: 50",
    ]


@pytest.mark.parametrize(
    ("edit", "base_ref", "message"),
    [
        (("samplingPercent: 100", "samplingPercent: 150"), "main", "mesh-tracing:samplingPercent: got 150"),
        (("samplingPercent: 100", "samplingPercent: [100"), "main", "Pulumi.dev.yaml:"),
        (None, "no-such-branch", "cannot read git revision 'origin/no-such-branch'"),
    ],
)
def test_plan_step_fails_only_on_errors(
    repo: Path, stack_file: Path, edit: tuple[str, str] | None, base_ref: str, message: str
) -> None:
    if edit is not None:
        stack_file.write_text(stack_file.read_text().replace(*edit))
    code, body, stderr = plan_step(repo, base_ref)
    assert code == 2
    assert message in stderr
    assert "Traceback" not in stderr
    assert body == "", "no comment body for a failed plan"


# --------------------------------------------------------------------------- the comment step, run


class FakeGitHub:
    """Issue comments of one pull request, as the REST API serves and changes them."""

    def __init__(self, comments: list[dict[str, Any]]) -> None:
        self.comments = comments
        self.api = FakeApiServer()
        base = "/repos/acme/mesh/issues"
        self.api.routes[("GET", f"{base}/7/comments")] = self.list
        self.api.routes[("POST", f"{base}/7/comments")] = self.create
        for comment in comments:
            self.api.routes[("PATCH", f"{base}/comments/{comment['id']}")] = self.update

    def list(self, request: Request) -> tuple[int, Any]:
        page, size = int(request.query.get("page", 1)), int(request.query.get("per_page", 30))
        return 200, self.comments[(page - 1) * size : page * size]

    def create(self, request: Request) -> tuple[int, Any]:
        comment = {"id": 100 + len(self.comments), "user": {"login": "github-actions[bot]"}}
        comment["body"] = json.loads(request.body)["body"]
        self.comments.append(comment)
        self.api.routes[("PATCH", f"/repos/acme/mesh/issues/comments/{comment['id']}")] = self.update
        return 201, comment

    def update(self, request: Request) -> tuple[int, Any]:
        comment_id = int(request.path.rsplit("/", 1)[-1])
        [comment] = [c for c in self.comments if c["id"] == comment_id]
        comment["body"] = json.loads(request.body)["body"]
        return 200, comment


def test_comment_step_keeps_one_comment_per_stack_and_touches_no_other(tmp_path: Path) -> None:
    dev_marker, prod_marker = COMMENT_MARKER.format(stack="dev"), COMMENT_MARKER.format(stack="prod")
    others = [
        {"id": 1, "user": {"login": "alice"}, "body": f"{dev_marker}\nquoted by a person"},
        {"id": 2, "user": {"login": "github-actions[bot]"}, "body": "#### :tropical_drink: `preview` on dev"},
        {"id": 3, "user": {"login": "github-actions[bot]"}, "body": f"{prod_marker}\nprod plan"},
    ]
    untouched = json.loads(json.dumps(others))
    github = FakeGitHub(json.loads(json.dumps(others)))
    context = {"github.token": "t0ken", "github.event.pull_request.number": "7", "matrix.stack": "dev"}
    with serve(github.api) as api:
        env = {"GITHUB_API_URL": api.url, "GITHUB_REPOSITORY": "acme/mesh"}
        for text in ("first plan", "second plan"):
            (tmp_path / "plan-comment.md").write_text(f"{dev_marker}\n{text}\n")
            provide_venv(tmp_path)
            result = run_step(
                "preview.yml",
                "preview",
                COMMENT_STEP,
                cwd=tmp_path,
                context=context,
                env=env | {"PYTHONPATH": str(PROJECT_DIR)},
            )
            assert result.code == 0, result.stderr
    assert github.comments[:3] == untouched
    [ours] = github.comments[3:]
    assert ours["body"] == f"{dev_marker}\nsecond plan\n"
    assert {r.headers.get("authorization") for r in github.api.requests} == {"Bearer t0ken"}
    assert [r.method for r in github.api.requests] == ["GET", "POST", "GET", "PATCH"]


@pytest.mark.parametrize(
    ("workflow", "job", "name", "secret"),
    [
        ("preview.yml", "preview", KUBECONFIG_STEP, "secrets[format('KUBECONFIG_{0}', matrix.stack)]"),
        ("deploy.yml", "dev", "Kubeconfig for dev", "secrets.KUBECONFIG_DEV"),
        ("deploy.yml", "prod", "Kubeconfig for prod", "secrets.KUBECONFIG_PROD"),
    ],
)
def test_kubeconfig_steps_write_the_file_and_export_it(
    tmp_path: Path, workflow: str, job: str, name: str, secret: str
) -> None:
    github_env = tmp_path / "github-env"
    result = run_step(
        workflow,
        job,
        name,
        cwd=tmp_path,
        context={secret: "apiVersion: v1\nkind: Config\n"},
        env={"HOME": str(tmp_path), "GITHUB_ENV": str(github_env)},
    )
    assert result.code == 0, result.stderr
    config = tmp_path / ".kube" / "config"
    assert config.read_text() == "apiVersion: v1\nkind: Config\n"
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    assert github_env.read_text() == f"KUBECONFIG={config}\n"
