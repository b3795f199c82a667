"""The GitHub workflows: valid against GitHub's schema, their stacks taken from the stack files, and
their steps' shell run exactly as written.

No test here names the stacks the workflows run: the stacks job runs `meshtools.stacks matrix` in a
temporary git repository holding this project and some stack files, and the jobs' `if:` and matrix
expressions are evaluated on its outputs as GitHub would, so what is checked is the rule (every stack
file previewed; non-production first, then production behind its environment). The plan step runs in
such a repository against a base branch; the comment step talks to a fake GitHub API on loopback.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from meshtools.plan import COMMENT_MARKER
from meshtools.stacks import PROJECT_DIR
from tests.conftest import TEST_STACKS
from tests.support.fake_apiserver import FakeApiServer, Request, serve
from tests.support.workflow import WORKFLOWS, checkout, condition, evaluate, load, provide_venv, run_step

PLAN_STEP = "Offline desired-state diff against the base branch"
COMMENT_STEP = "Post or update this stack's plan comment"
KUBECONFIG_STEP = "Kubeconfig for the stack's cluster"
MATRIX_STEP = "The stacks, from the stack files"
RETENTION_STEP = "Apply the trace retention (not a chart value; idempotent)"
DEPLOY_JOBS = ("non-production", "production")
# Without charts the plan compares the desired state only (and says so): enough where the rendered
# objects are not what a test is about, and much faster.
NO_CHARTS = {"MESH_TRACING_CHART_MIRROR": ""}


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml"])
def test_valid_against_the_github_workflow_schema(name: str) -> None:
    command = [Path(sys.executable).parent / "check-jsonschema", "--builtin-schema", "vendor.github-workflows"]
    result = subprocess.run([*map(str, command), str(WORKFLOWS / name)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _uses(job: Mapping[str, Any], action: str) -> dict[str, Any]:
    [found] = [s for s in job["steps"] if str(s.get("uses", "")).startswith(f"{action}@")]
    return dict(found)


def test_the_stacks_come_from_the_stack_files_with_the_runtime_alone() -> None:
    for name in ("preview.yml", "deploy.yml"):
        stacks = load(name)["jobs"]["stacks"]
        assert any(s.get("run") == "make install" for s in stacks["steps"]), "runtime lock only"
        assert not any("install-dev" in str(s.get("run")) for s in stacks["steps"])
        [matrix_step] = [s for s in stacks["steps"] if s.get("name") == MATRIX_STEP]
        assert "meshtools.stacks matrix" in matrix_step["run"]


def test_preview_runs_per_stack_after_the_tests_with_the_policy_pack() -> None:
    workflow = load("preview.yml")
    assert "pull_request" in workflow["on"]
    assert workflow["permissions"]["pull-requests"] == "write"
    preview = workflow["jobs"]["preview"]
    assert set(preview["needs"]) == {"test", "stacks"}
    runs = [s.get("run") for s in workflow["jobs"]["test"]["steps"]]
    assert runs.index("make scan") > runs.index("make test"), "the scanner runs after the tests"
    pulumi = _uses(preview, "pulumi/actions")
    assert (pulumi["with"]["command"], pulumi["with"]["policyPacks"]) == ("preview", "policy")
    assert pulumi["with"]["stack-name"] == "${{ matrix.stack }}"
    assert preview["steps"][0]["with"]["fetch-depth"] == 0, "the diff needs the base branch"
    assert preview["strategy"]["fail-fast"] is False


def test_the_real_collectors_judge_every_pull_request() -> None:
    """make collectors-check needs Go; the built collectors are reused while tools/ is unchanged."""
    collectors = load("preview.yml")["jobs"]["collectors"]
    assert any(s.get("run") == "make collectors-check" for s in collectors["steps"])
    [go] = [s for s in collectors["steps"] if str(s.get("uses", "")).startswith("actions/setup-go@")]
    assert go["with"]["go-version"] == "1.26"
    [cache] = [s for s in collectors["steps"] if str(s.get("uses", "")).startswith("actions/cache@")]
    assert cache["with"]["path"] == "~/.cache/mesh-tracing/tools"


def test_deploy_installs_the_runtime_only_and_never_cancels() -> None:
    workflow = load("deploy.yml")
    assert workflow["on"]["push"]["branches"] == ["main"]
    jobs = workflow["jobs"]
    assert "non-production" in jobs["production"]["needs"]
    assert jobs["production"]["environment"] == "production"
    assert jobs["non-production"]["steps"] == jobs["production"]["steps"], "one deployment, two gates"
    for name in DEPLOY_JOBS:
        job = jobs[name]
        pulumi = _uses(job, "pulumi/actions")
        assert (pulumi["with"]["command"], pulumi["with"]["stack-name"], pulumi["with"]["policyPacks"]) == (
            "up",
            "${{ matrix.stack }}",
            "policy",
        )
        assert any(s.get("run") == "make install" for s in job["steps"]), "runtime lock only, no test tools"
        assert job["concurrency"]["cancel-in-progress"] is False, "never cancel a running deployment"
        assert job["concurrency"]["group"] == "deploy-${{ matrix.stack }}"
        assert job["strategy"]["fail-fast"] is False, "one stack's failure never cancels another's deployment"
        names = [s.get("name") for s in job["steps"]]
        assert names.index(RETENTION_STEP) > names.index("pulumi up"), "retention after the deploy"


# --------------------------------------------------------------------------- the stacks, as GitHub schedules them


def stacks_outputs(workflow: str, repo: Path, tmp_path: Path) -> dict[str, Any]:
    """The stacks job's outputs: its matrix step run as written in `repo`, mapped by `outputs:`."""
    github_output = tmp_path / f"github-output-{workflow}"
    github_output.unlink(missing_ok=True)
    result = run_step(workflow, "stacks", MATRIX_STEP, cwd=repo, context={}, env={"GITHUB_OUTPUT": str(github_output)})
    assert result.code == 0, result.stderr
    steps = {"matrix": {"outputs": dict(line.split("=", 1) for line in github_output.read_text().splitlines())}}
    job = load(workflow)["jobs"]["stacks"]
    return {key: evaluate(value, {"steps": steps}) for key, value in job["outputs"].items()}


def scheduled(workflow: str, repo: Path, tmp_path: Path) -> dict[str, list[dict[str, Any]]]:
    """The matrix entries each job runs (none: skipped), evaluating the jobs' `if:` and matrix
    expressions as GitHub does, in the order of `needs`; every job that runs succeeds."""
    jobs = load(workflow)["jobs"]
    needs: dict[str, dict[str, Any]] = {"stacks": {"outputs": stacks_outputs(workflow, repo, tmp_path)}}
    needs["stacks"]["result"] = "success"
    found: dict[str, list[dict[str, Any]]] = {}
    for name, job in jobs.items():
        if name == "stacks" or "matrix" not in job.get("strategy", {}):
            needs.setdefault(name, {"outputs": {}, "result": "success"})  # jobs that run once, as they do
            continue
        required = [job["needs"]] if isinstance(job["needs"], str) else job["needs"]
        context = {"needs": {n: needs[n] for n in required}}
        runs = all(needs[n]["result"] == "success" for n in required) if "if" not in job else condition(job, context)
        found[name] = evaluate(job["strategy"]["matrix"]["include"], context) if runs else []
        needs[name] = {"outputs": {}, "result": "success" if runs else "skipped"}
    return found


def stack_names(entries: list[dict[str, Any]]) -> list[str]:
    return sorted(entry["stack"] for entry in entries)


def staging_copy(repo: Path, source: str = "dev") -> Path:
    """Pulumi.<source>.yaml copied to Pulumi.staging.yaml with its context, cluster and environment
    changed: what a team does to add a stack, and all it does."""
    text = (repo / f"Pulumi.{source}.yaml").read_text()
    replaced = (
        text.replace("kubernetes:context: kind-test", "kubernetes:context: staging-eu-west-1")
        .replace("mesh-tracing:cluster: dev-kind", "mesh-tracing:cluster: staging-eu-west-1")
        .replace("mesh-tracing:environment: dev", "mesh-tracing:environment: staging")
    )
    assert replaced.count("staging") == 3, "the test stack's three lines were found"
    path = repo / "Pulumi.staging.yaml"
    path.write_text(replaced)
    return path


@pytest.fixture(scope="module")
def ci_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout holding a non-production (`dev`) and a production (`prod`) test stack."""
    repo = checkout(tmp_path_factory.mktemp("ci-repo"), TEST_STACKS / "Pulumi.dev.yaml")
    shutil.copy2(TEST_STACKS / "Pulumi.prod.yaml", repo / "Pulumi.prod.yaml")
    return repo


@pytest.fixture
def with_staging(ci_repo: Path) -> Iterator[Path]:
    staging = staging_copy(ci_repo)
    yield ci_repo
    staging.unlink()
    (ci_repo / "plan-comment.md").unlink(missing_ok=True)


def test_a_copied_stack_file_is_previewed_and_deployed_before_production(with_staging: Path, tmp_path: Path) -> None:
    preview = scheduled("preview.yml", with_staging, tmp_path)
    assert stack_names(preview["preview"]) == ["dev", "prod", "staging"], "every stack file"
    deploy = scheduled("deploy.yml", with_staging, tmp_path)
    assert stack_names(deploy["non-production"]) == ["dev", "staging"]
    assert stack_names(deploy["production"]) == ["prod"]
    [staging] = [entry for entry in deploy["non-production"] if entry["stack"] == "staging"]
    assert staging | {"productionDecidedBy": ""} == {
        "stack": "staging",
        "production": False,
        "productionDecidedBy": "",
        "kubeconfigSecret": "KUBECONFIG_STAGING",
        "signozApiKeySecret": "SIGNOZ_API_KEY_STAGING",
        "signozMode": "deploy",
    }


def test_the_copied_stack_runs_through_the_preview_steps(with_staging: Path, tmp_path: Path) -> None:
    """The plan step, its comment and the kubeconfig step for the new stack, as the workflow runs them."""
    [entry] = [e for e in scheduled("preview.yml", with_staging, tmp_path)["preview"] if e["stack"] == "staging"]
    context = {"matrix": entry, "github": {"base_ref": "main"}, "secrets": {}}
    result = run_step("preview.yml", "preview", PLAN_STEP, cwd=with_staging, context=context, env=NO_CHARTS)
    assert result.code == 0, result.stderr
    body = (with_staging / "plan-comment.md").read_text()
    assert body.startswith(COMMENT_MARKER.format(stack="staging"))
    assert "> stack staging does not exist at origin/main: everything is new" in body
    secrets = {"KUBECONFIG_STAGING": "apiVersion: v1\nkind: Config\n"}
    home = {"HOME": str(tmp_path), "GITHUB_ENV": str(tmp_path / "github-env")}
    context = {"matrix": entry, "secrets": secrets}
    result = run_step("preview.yml", "preview", KUBECONFIG_STEP, cwd=tmp_path, context=context, env=home)
    assert result.code == 0, result.stderr
    assert (tmp_path / ".kube" / "config").read_text() == secrets["KUBECONFIG_STAGING"]


def test_every_stack_file_is_checked_by_the_tests(with_staging: Path) -> None:
    """`make test` checks every stack file first (the shipped-stack invariants follow the same
    discovery): the copy is there and valid, with nothing else edited."""
    result = subprocess.run(
        [".venv/bin/python", "-m", "meshtools.stacks"], cwd=with_staging, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Pulumi.staging.yaml: valid — non-production" in result.stdout


@pytest.mark.parametrize(("present", "runs"), [("dev", "non-production"), ("prod", "production")])
def test_a_missing_kind_of_stack_skips_its_job_instead_of_an_empty_matrix(
    tmp_path: Path, present: str, runs: str
) -> None:
    """GitHub refuses an empty matrix: a job without stacks must be skipped by its `if:`, before its
    matrix is expanded; production still runs when there is no non-production stack."""
    repo = checkout(tmp_path / "repo", TEST_STACKS / f"Pulumi.{present}.yaml")
    if present != "dev":
        (repo / "Pulumi.dev.yaml").rename(repo / f"Pulumi.{present}.yaml")
    deploy = scheduled("deploy.yml", repo, tmp_path)
    assert {job: stack_names(entries) for job, entries in deploy.items()} == {
        "non-production": [present] if runs == "non-production" else [],
        "production": [present] if runs == "production" else [],
    }


def test_production_waits_for_every_non_production_stack(ci_repo: Path, tmp_path: Path) -> None:
    production = load("deploy.yml")["jobs"]["production"]
    outputs = stacks_outputs("deploy.yml", ci_repo, tmp_path)
    for result, runs in (("success", True), ("skipped", True), ("failure", False), ("cancelled", False)):
        needs = {"stacks": {"outputs": outputs, "result": "success"}, "non-production": {"result": result}}
        assert condition(production, {"needs": needs}) is runs, result
    needs = {"stacks": {"outputs": outputs, "result": "success"}, "non-production": {"result": "success"}}
    assert condition(production, {"needs": needs, "cancelled()": True}) is False, "a cancelled run stops"


def test_stacks_that_would_share_secrets_stop_the_workflows(ci_repo: Path, tmp_path: Path) -> None:
    clashes = [ci_repo / "Pulumi.dev-eu.yaml", ci_repo / "Pulumi.dev.eu.yaml"]
    for clash in clashes:
        shutil.copy2(ci_repo / "Pulumi.dev.yaml", clash)
    try:
        github_output = tmp_path / "out"
        for workflow in ("preview.yml", "deploy.yml"):
            env = {"GITHUB_OUTPUT": str(github_output)}
            result = run_step(workflow, "stacks", MATRIX_STEP, cwd=ci_repo, context={}, env=env)
            assert result.code == 2
            assert (
                "stacks dev-eu, dev.eu would read the same GitHub secrets (KUBECONFIG_DEV_EU, SIGNOZ_API_KEY_DEV_EU)"
                in (result.stderr)
            )
            assert "set mesh-tracing:githubSecretSuffix in all but one of them" in result.stderr
            assert not github_output.exists() or github_output.read_text() == ""
    finally:
        for clash in clashes:
            clash.unlink()


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


DEV_ENTRY = {"stack": "dev", "kubeconfigSecret": "KUBECONFIG_DEV", "signozApiKeySecret": "SIGNOZ_API_KEY_DEV"}


def plan_step(
    repo: Path, base_ref: str = "main", secrets: Mapping[str, str] | None = None, env: Mapping[str, str] | None = None
) -> tuple[int, str, str]:
    context = {"matrix": DEV_ENTRY, "github": {"base_ref": base_ref}, "secrets": dict(secrets or {})}
    result = run_step("preview.yml", "preview", PLAN_STEP, cwd=repo, context=context, env=dict(env or {}))
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
    assert "**Summary:** changes against origin/main: 1 changed resource(s); no workload restarts" in lines
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
    assert "Trace retention" not in body
    assert "- no workload restarts" in rendered.splitlines(), "sampling reaches running proxies over xDS"
    assert [line for line in rendered.splitlines() if line.startswith(("-  ", "+  "))] == [
        "-    randomSamplingPercentage: 100",
        "+    randomSamplingPercentage: 50",
    ]


@pytest.mark.parametrize(
    ("secrets", "expected"),
    [
        (
            {"SIGNOZ_API_KEY_DEV": "a-key"},
            "the deploy workflow runs `make set-retention STACK=dev` right after `pulumi up` (with the secret "
            "`SIGNOZ_API_KEY_DEV`).",
        ),
        (
            {},
            "and the deploy workflow cannot: the repository has no secret `SIGNOZ_API_KEY_DEV` (a SigNoz "
            "service-account key with the Admin role). Add it before merging, or after the deploy run "
            "`SIGNOZ_API_KEY=<key> make set-retention STACK=dev ARGS=--wait`.",
        ),
    ],
)
def test_a_retention_change_says_who_applies_it(
    repo: Path, stack_file: Path, secrets: dict[str, str], expected: str
) -> None:
    """Retention is not a chart value: the comment says the deploy applies it, or what to run."""
    stack_file.write_text(stack_file.read_text().replace("traceRetentionDays: 7", "traceRetentionDays: 30"))
    code, body, _ = plan_step(repo, secrets=secrets, env=NO_CHARTS)
    assert code == 0
    assert "trace retention → 30 days: make set-retention after the deploy" in body
    [line] = [line for line in body.splitlines() if line.startswith("- Trace retention changes")]
    assert line.startswith(
        "- Trace retention changes from 7 to 30 days: retention is not a chart value, so `pulumi up` does not apply it"
    )
    assert line.endswith(expected)


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
    context = {"github": {"token": "t0ken", "event": {"pull_request": {"number": 7}}}, "matrix": DEV_ENTRY}
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


# --------------------------------------------------------------------------- the per-stack secrets, used


def kubeconfig_steps() -> list[tuple[str, str]]:
    return [("preview.yml", "preview"), *(("deploy.yml", job) for job in DEPLOY_JOBS)]


@pytest.mark.parametrize(("workflow", "job"), kubeconfig_steps())
def test_kubeconfig_steps_write_the_stacks_secret_and_export_it(tmp_path: Path, workflow: str, job: str) -> None:
    github_env = tmp_path / "github-env"
    entry = {"stack": "eu.prod-2", "kubeconfigSecret": "KUBECONFIG_EU_PROD_2"}
    secrets = {"KUBECONFIG_EU_PROD_2": "apiVersion: v1\nkind: Config\n", "KUBECONFIG_DEV": "the wrong one"}
    result = run_step(
        workflow,
        job,
        KUBECONFIG_STEP,
        cwd=tmp_path,
        context={"matrix": entry, "secrets": secrets},
        env={"HOME": str(tmp_path), "GITHUB_ENV": str(github_env)},
    )
    assert result.code == 0, result.stderr
    config = tmp_path / ".kube" / "config"
    assert config.read_text() == "apiVersion: v1\nkind: Config\n"
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    assert github_env.read_text() == f"KUBECONFIG={config}\n"


@pytest.mark.parametrize(("workflow", "job"), kubeconfig_steps())
def test_a_missing_kubeconfig_secret_is_named(tmp_path: Path, workflow: str, job: str) -> None:
    entry = {"stack": "staging", "kubeconfigSecret": "KUBECONFIG_STAGING"}
    result = run_step(
        workflow,
        job,
        KUBECONFIG_STEP,
        cwd=tmp_path,
        context={"matrix": entry, "secrets": {}},
        env={"HOME": str(tmp_path), "GITHUB_ENV": str(tmp_path / "github-env")},
    )
    assert result.code == 1
    assert "::error::the repository has no secret KUBECONFIG_STAGING" in result.stdout
    assert not (tmp_path / ".kube").exists()


def fake_make(directory: Path) -> Path:
    """A `make` on PATH that records its arguments and SIGNOZ_API_KEY, for the retention step."""
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    script = bin_dir / "make"
    script.write_text(f'#!/bin/sh\necho "$* key=$SIGNOZ_API_KEY" >> {directory / "make.log"}\n')
    script.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize("job", DEPLOY_JOBS)
def test_the_deploy_applies_the_retention_of_deploy_mode_stacks(tmp_path: Path, job: str) -> None:
    [retention] = [s for s in load("deploy.yml")["jobs"][job]["steps"] if s.get("name") == RETENTION_STEP]
    assert condition(retention, {"matrix": {"signozMode": "deploy"}}) is True
    assert condition(retention, {"matrix": {"signozMode": "remote"}}) is False, "retention is the central stack's"
    entry = {"stack": "prod-us", "signozApiKeySecret": "SIGNOZ_API_KEY_PROD_US", "signozMode": "deploy"}
    env = {"PATH": f"{fake_make(tmp_path)}:/usr/bin:/bin"}
    with_key = {"matrix": entry, "secrets": {"SIGNOZ_API_KEY_PROD_US": "k3y"}}
    result = run_step("deploy.yml", job, RETENTION_STEP, cwd=tmp_path, context=with_key, env=env)
    assert result.code == 0, result.stderr
    assert (tmp_path / "make.log").read_text() == "set-retention STACK=prod-us key=k3y\n"
    (tmp_path / "make.log").unlink()
    result = run_step("deploy.yml", job, RETENTION_STEP, cwd=tmp_path, context={**with_key, "secrets": {}}, env=env)
    assert result.code == 0, "a deployed stack without the key is a warning, not a failed deploy"
    assert "::warning::trace retention of prod-us not applied: the repository has no secret SIGNOZ_API_KEY_PROD_US" in (
        result.stdout
    )
    assert "SIGNOZ_API_KEY=<key> make set-retention STACK=prod-us ARGS=--wait" in result.stdout
    assert not (tmp_path / "make.log").exists()
