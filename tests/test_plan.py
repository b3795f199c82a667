"""The offline plan: deterministic desired state with secrets masked, and a diff against git."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from meshtools import plan
from meshtools.recording import PROJECT_DIR


def test_render_is_deterministic_and_complete(stack: str) -> None:
    first = plan.render(stack)
    assert first == plan.render(stack)
    state = yaml.safe_load(first)
    istiod = state["resources"]["mesh-istiod"]
    assert istiod["release"] == {"chart": "istiod", "name": "istiod", "namespace": "istio-system", "version": "1.30.5"}
    assert istiod["repository"] == "https://istio-release.storage.googleapis.com/charts"
    assert istiod["values"]["meshConfig"]["defaultProviders"]["tracing"] == ["signoz"]
    assert state["resources"]["mesh-telemetry"]["inputs"]["spec"]["tracing"][0]["providers"] == [{"name": "signoz"}]
    assert "mesh" not in state["resources"], "component groupings are left out"


def test_secrets_are_masked_leaf_by_leaf(stack: str) -> None:
    text = plan.render(stack)
    assert "generated-" not in text
    values = yaml.safe_load(text)["resources"]["signoz-release"]["values"]
    assert values["clickhouse"]["password"] == "[secret]"
    assert values["otelCollector"]["ports"] == {"zipkin": {"enabled": True}}, "the rest stays reviewable"
    kiali = yaml.safe_load(text)["resources"]["kiali-release"]["values"]
    assert kiali["login_token"] == {"signing_key": "[secret]"}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository holding the tracked project files, committed once."""
    files = subprocess.run(["git", "ls-files"], cwd=PROJECT_DIR, capture_output=True, text=True, check=True)
    for name in files.stdout.split():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_DIR / name, tmp_path / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    return tmp_path


def test_diff_against_git(repo: Path) -> None:
    unchanged, changed = plan.diff("prod", "HEAD", repo)
    assert (unchanged, changed) == ("", False)

    stack_file = repo / "Pulumi.prod.yaml"
    stack_file.write_text(
        stack_file.read_text().replace("mesh-tracing:samplingPercent: 1\n", "mesh-tracing:samplingPercent: 5\n")
    )
    text, changed = plan.diff("prod", "HEAD", repo)
    assert changed
    removed = [line for line in text.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line for line in text.splitlines() if line.startswith("+") and not line.startswith("+++")]
    # The stack output, the inherited sampling of otel-demo in the outputs, the mesh Telemetry.
    assert [line[1:].strip() for line in removed] == [
        "samplingPercent: 1.0",
        "samplingPercent: 1.0",
        "randomSamplingPercentage: 1",
    ]
    assert [line[1:].strip() for line in added] == [
        "samplingPercent: 5.0",
        "samplingPercent: 5.0",
        "randomSamplingPercentage: 5",
    ]
    assert "mesh-istiod" not in text, "sampling never touches istiod"


def test_diff_exit_codes(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    command = ["diff", "--stack", "dev", "--base", "HEAD", "--project-dir", str(repo)]
    assert plan.main(command) == 0
    assert capsys.readouterr().out == "no changes to the desired state of dev since HEAD\n"
    stack_file = repo / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("mtlsMode: PERMISSIVE", "mtlsMode: STRICT"))
    assert plan.main(command) == 1
    out = capsys.readouterr().out
    assert [ln for ln in out.splitlines() if ln.startswith(("-  ", "+  "))] == [
        "-  mtlsMode: PERMISSIVE",
        "+  mtlsMode: STRICT",
        "-    mtlsMode: PERMISSIVE",
        "+    mtlsMode: STRICT",
        "-          mode: PERMISSIVE",
        "+          mode: STRICT",
    ]
    with pytest.raises(SystemExit, match="cannot read revision 'no-such-rev'"):
        plan.diff("prod", "no-such-rev", repo)
