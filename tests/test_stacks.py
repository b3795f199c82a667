"""`meshtools.stacks`: the stack files as CI and `make validate` see them — the per-stack GitHub
secret names by their rule, the matrix, the one-line check — with the runtime virtualenv alone."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.problems import SettingsError
from config.types import KialiAuthStrategy
from meshtools import stacks
from meshtools.cli import EXIT_ERROR, EXIT_OK, run_command
from tests.conftest import TEST_STACK_NAMES, TEST_STACKS, shipped_stack

# Pulumi's stack names: letters, digits, `-`, `_` and `.` (pulumi/sdk go/common/tokens, ValidateStackName).
STACK_NAME = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,40}", fullmatch=True)
# GitHub's rule for secret names: letters, digits and `_`, not starting with a digit or GITHUB_.
GITHUB_SECRET = re.compile(r"^(?!GITHUB_)[A-Z_][A-Z0-9_]*$")


def stack_dir(tmp_path: Path, **files: str) -> Path:
    for name, source in files.items():
        (tmp_path / f"Pulumi.{name}.yaml").write_text((TEST_STACKS / f"Pulumi.{source}.yaml").read_text())
    return tmp_path


@given(STACK_NAME)
def test_every_stack_name_gives_valid_github_secret_names(name: str) -> None:
    stack = stacks.load_stack("minimal", TEST_STACKS)
    entry = stacks.ci_stack(name, stack).entry()
    for key in ("kubeconfigSecret", "signozApiKeySecret"):
        assert GITHUB_SECRET.match(str(entry[key])), entry[key]
    suffix = stacks.secret_suffix(name, stack)
    assert suffix == "".join(c.upper() if c.isalnum() else "_" for c in name), "the documented rule"


def test_the_suffix_can_be_set_where_names_would_collide(tmp_path: Path) -> None:
    directory = stack_dir(tmp_path, **{"prod-us": "minimal", "prod_us": "minimal"})
    [clash] = stacks.check_all(directory)
    assert clash == (
        "stacks prod-us, prod_us would read the same GitHub secrets (KUBECONFIG_PROD_US, SIGNOZ_API_KEY_PROD_US); "
        "set mesh-tracing:githubSecretSuffix in all but one of them"
    )
    underscored = directory / "Pulumi.prod_us.yaml"
    underscored.write_text(underscored.read_text() + "  mesh-tracing:githubSecretSuffix: prod_us_2\n")
    assert stacks.check_all(directory) == []
    entries = {e["stack"]: e["kubeconfigSecret"] for e in stacks.matrix(directory)["all"]}
    assert entries == {"prod-us": "KUBECONFIG_PROD_US", "prod_us": "KUBECONFIG_PROD_US_2"}


@pytest.mark.parametrize("suffix", ["prod-us", "prod us", "'Ä'", "''"])
def test_the_suffix_must_be_a_github_secret_name(tmp_path: Path, suffix: str) -> None:
    directory = stack_dir(tmp_path, qa="minimal")
    path = directory / "Pulumi.qa.yaml"
    path.write_text(path.read_text() + f"  mesh-tracing:githubSecretSuffix: {suffix}\n")
    with pytest.raises(SettingsError) as caught:
        stacks.load_stack("qa", directory)
    [problem] = caught.value.problems
    assert problem.key == "mesh-tracing:githubSecretSuffix"
    assert problem.allowed in (
        "must be letters, digits and '_' only (GitHub's rule for secret names)",
        "String should have at least 1 character",
    )


def test_the_matrix_splits_production_from_the_rest(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_command(stacks.main, ["--stacks-dir", str(TEST_STACKS), "matrix", "--github-output"]) == EXIT_OK
    outputs = dict(line.split("=", 1) for line in capsys.readouterr().out.splitlines())
    found = {key: [entry["stack"] for entry in json.loads(value)] for key, value in outputs.items()}
    assert found["all"] == list(TEST_STACK_NAMES), "every stack file, in name order"
    assert sorted(found["non-production"] + found["production"]) == found["all"]
    assert found["production"] == ["prod", "remote"], "the test stacks whose environment is 'production'"
    [remote] = [entry for entry in json.loads(outputs["production"]) if entry["stack"] == "remote"]
    assert remote == {
        "stack": "remote",
        "production": True,
        "productionDecidedBy": "environment 'production' has the token 'production'",
        "kubeconfigSecret": "KUBECONFIG_REMOTE",
        "signozApiKeySecret": "SIGNOZ_API_KEY_REMOTE",
        "signozMode": "remote",
    }


def test_validate_says_what_a_stack_file_decides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = stack_dir(tmp_path, qa="minimal", broken="minimal")
    broken = directory / "Pulumi.broken.yaml"
    broken.write_text(broken.read_text().replace("environment: qa", "environment: non-prod"))
    assert run_command(stacks.main, ["--stacks-dir", str(directory), "validate", "--stack", "qa"]) == EXIT_OK
    assert capsys.readouterr().out == (
        "Pulumi.qa.yaml: valid — non-production (environment 'qa' has no token prod, production or prd); cluster "
        "minimal, kube context (the current one), signoz.mode deploy; CI secrets KUBECONFIG_QA, SIGNOZ_API_KEY_QA\n"
    )
    assert run_command(stacks.main, ["--stacks-dir", str(directory), "validate", "--stack", "broken"]) == EXIT_ERROR
    assert "mesh-tracing:production: got <missing> — required: environment 'non-prod'" in capsys.readouterr().err
    assert run_command(stacks.main, ["--stacks-dir", str(directory), "validate"]) == EXIT_ERROR
    captured = capsys.readouterr()
    assert captured.out.startswith("Pulumi.qa.yaml: valid"), "the valid ones are still listed"
    assert captured.err.startswith("error: Pulumi.broken.yaml: invalid stack configuration (1 problem(s)):")


# Packages the runtime virtualenv (`make install`) does not hold.
DEV_ONLY = ("pytest", "hypothesis", "mypy", "ruff", "chdb", "jsonschema", "kubernetes_validate", "kubernetes", "helm")
BLOCKING = f"""
import importlib.abc, runpy, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {DEV_ONLY!r}:
            raise ImportError(f"{{name}} is not in the runtime virtualenv")
sys.meta_path.insert(0, Block())
sys.argv = ["meshtools.stacks", *sys.argv[1:]]
runpy.run_module("meshtools.stacks", run_name="__main__")
"""


@pytest.mark.parametrize("command", [["validate"], ["matrix"]])
def test_the_stack_commands_need_the_runtime_alone(command: list[str]) -> None:
    """`make validate` and CI's stacks job run with `make install` only (the dev tier is 1.7 GB)."""
    result = subprocess.run(
        [sys.executable, "-c", BLOCKING, "--stacks-dir", str(TEST_STACKS), *command],
        cwd=stacks.PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout


def test_make_validate_uses_the_runtime_tier_only() -> None:
    makefile = (stacks.PROJECT_DIR / "Makefile").read_text()
    assert re.search(r"^validate: \$\(RUNTIME\)$", makefile, re.M)
    result = subprocess.run(
        # The interpreter running the tests (a checkout's own .venv, or the one a worktree borrows).
        ["make", "--no-print-directory", "validate", "RUNTIME=", f"BIN={Path(sys.executable).parent}"],
        cwd=stacks.PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert [line.split(":", 1)[0] for line in result.stdout.splitlines()] == [
        f"Pulumi.{name}.yaml" for name in stacks.stack_names(stacks.PROJECT_DIR)
    ]


def test_the_staging_template_is_shaped_for_a_real_cluster() -> None:
    """examples/Pulumi.staging.yaml (README: Adopting it) is what Pulumi.dev.yaml is not."""
    template = shipped_stack("examples/staging")
    settings = template.settings
    assert settings.production is False, "decided explicitly"
    assert settings.demo is False
    assert settings.kiali.auth.strategy is not KialiAuthStrategy.ANONYMOUS
    assert settings.kiali.signoz_url is not None and settings.kiali.signoz_url.startswith("https://")
    assert template.kube_context is not None and not template.kube_context.startswith("kind-")
