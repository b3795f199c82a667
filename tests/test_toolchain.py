"""The tool builder: versions set through ldflags, a warm run reuses the cache, a change rebuilds,
and a module that does not build fails naming the command and Go's own message."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tools import toolchain

MAIN = 'package main\n\nimport "fmt"\n\nvar Version = "dev"\n\nfunc main() { fmt.Println(Version) }\n'


def _tool(folder: Path, main: str = MAIN) -> Path:
    tool = folder / "hello"
    tool.mkdir(parents=True, exist_ok=True)
    (tool / "go.mod").write_text("module example.com/hello\n\ngo 1.26\n")
    (tool / "main.go").write_text(main)
    spec = {
        "version": "v1.2.3",
        "binaries": [{"package": ".", "output": "hello", "ldflags": ["-X", "main.Version=v1.2.3"]}],
    }
    (tool / "tool.json").write_text(json.dumps(spec))
    return tool


def test_builds_once_with_the_version_and_reuses_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESH_TRACING_TOOLS_CACHE", str(tmp_path / "cache"))
    _tool(tmp_path / "tools")
    tool = toolchain.load_tool("hello", tmp_path / "tools")
    folder, seconds = toolchain.build(tool)
    assert seconds > 0 and folder.parent.name.startswith("v1.2.3-")
    out = subprocess.run([folder / "hello"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "v1.2.3", "the version comes from -ldflags -X, as upstream release builds set it"
    built_at = (folder / "hello").stat().st_mtime_ns
    again, seconds = toolchain.build(toolchain.load_tool("hello", tmp_path / "tools"))
    assert (again, seconds) == (folder, 0.0) and (folder / "hello").stat().st_mtime_ns == built_at


def test_a_changed_wrapper_builds_anew(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESH_TRACING_TOOLS_CACHE", str(tmp_path / "cache"))
    _tool(tmp_path / "tools")
    first = toolchain.load_tool("hello", tmp_path / "tools").cache_dir
    _tool(tmp_path / "tools", MAIN.replace("fmt.Println(Version)", 'fmt.Println("v", Version)'))
    second = toolchain.load_tool("hello", tmp_path / "tools")
    assert second.cache_dir != first and not second.cached


def test_a_module_that_does_not_build_names_the_command_and_gos_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESH_TRACING_TOOLS_CACHE", str(tmp_path / "cache"))
    _tool(tmp_path / "tools", MAIN.replace("fmt.Println(Version)", "undefinedCall()"))
    tool = toolchain.load_tool("hello", tmp_path / "tools")
    with pytest.raises(toolchain.BuildError, match=r"(?s)`go build .*` in .*hello failed.*undefined: undefinedCall"):
        toolchain.build(tool)
    assert not tool.cached and not list((tmp_path / "cache" / "hello").glob("v*")), "nothing half-built is kept"


def test_an_unknown_tool_lists_the_known_ones(tmp_path: Path) -> None:
    _tool(tmp_path / "tools")
    with pytest.raises(toolchain.BuildError, match=r"no tool 'nope'.*tools: hello"):
        toolchain.load_tool("nope", tmp_path / "tools")
