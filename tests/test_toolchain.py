"""The tool builder: versions set through ldflags, a warm run reuses the cache, a change rebuilds,
and a module that does not build fails naming the command and Go's own message."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
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


# --------------------------------------------------------------------------- the additions for upstream builds

TWO = {f"{n}/main.go": MAIN.replace("fmt.Println(Version)", f'fmt.Println("{n}", Version)') for n in ("one", "two")}


def _module(folder: Path, files: dict[str, str], spec: Mapping[str, object]) -> Path:
    tool = folder / "multi"
    for name, text in files.items():
        (tool / name).parent.mkdir(parents=True, exist_ok=True)
        (tool / name).write_text(text)
    (tool / "go.mod").write_text("module example.com/multi\n\ngo 1.26\n")
    (tool / "tool.json").write_text(json.dumps({"version": "v0.1.0", **spec}))
    return tool


def test_several_commands_build_in_one_go_build_named_after_their_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESH_TRACING_TOOLS_CACHE", str(tmp_path / "cache"))
    ldflags = ["-X", "main.Version=v0.1.0"]
    _module(tmp_path / "tools", TWO, {"binaries": [{"packages": ["./one", "./two"], "ldflags": ldflags}]})
    folder, _ = toolchain.build(toolchain.load_tool("multi", tmp_path / "tools"))
    outputs = [subprocess.run([folder / n], capture_output=True, text=True, check=True).stdout for n in ("one", "two")]
    assert outputs == ["one v0.1.0\n", "two v0.1.0\n"]


def test_a_source_build_generates_into_a_copy_and_builds_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As the Kubernetes provider is built: `go generate` writes a file its package embeds, in a copy
    of the module; the module's own folder is never written."""
    monkeypatch.setenv("MESH_TRACING_TOOLS_CACHE", str(tmp_path / "cache"))
    embeds = (
        'package main\n\nimport (\n\t_ "embed"\n\t"fmt"\n)\n\n//go:generate sh -c "echo $WHAT > made.txt"\n\n'
        "//go:embed made.txt\nvar made string\n\nfunc main() { fmt.Print(made) }\n"
    )
    tool = _module(
        tmp_path / "tools",
        {"cmd/x/main.go": embeds},
        {
            "source": "example.com/multi",
            "binaries": [{"package": "./cmd/x", "output": "x"}],
            "generate": [{"run": ["go", "generate", "./cmd/x"], "env": {"WHAT": "generated"}}],
        },
    )
    built = toolchain.load_tool("multi", tmp_path / "tools")
    folder, _ = toolchain.build(built)
    assert subprocess.run([folder / "x"], capture_output=True, text=True, check=True).stdout == "generated\n"
    assert not (tool / "cmd" / "x" / "made.txt").exists(), "the tool's own folder is never written"
    assert not (built.cache_dir / toolchain.SOURCE).exists(), "the copy is not kept"


def test_a_directory_replace_is_refused_for_a_source_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESH_TRACING_TOOLS_CACHE", str(tmp_path / "cache"))
    tool = _module(
        tmp_path / "tools", TWO, {"source": "example.com/multi", "binaries": [{"package": "./one", "output": "one"}]}
    )
    (tool / "go.mod").write_text("module example.com/multi\n\ngo 1.26\n\nreplace example.com/sdk => ../sdk\n")
    with pytest.raises(toolchain.BuildError, match=r"replaces example.com/sdk by a directory; pin a released version"):
        toolchain.build(toolchain.load_tool("multi", tmp_path / "tools"))


def test_files_are_copied_unchanged_and_executable_where_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESH_TRACING_TOOLS_CACHE", str(tmp_path / "cache"))
    files = {**TWO, "dist/launcher": "#!/bin/sh\necho launched\n", "stages/a/x.yaml": "kind: Stage\n"}
    _module(
        tmp_path / "tools",
        files,
        {
            "binaries": [{"package": "./one", "output": "one"}],
            "files": [
                {"module": "example.com/multi", "path": "dist/launcher", "to": "bin/launcher", "executable": True},
                {"module": "example.com/multi", "path": "stages", "to": "share/stages"},
            ],
        },
    )
    tool = toolchain.load_tool("multi", tmp_path / "tools")
    folder, _ = toolchain.build(tool)
    assert subprocess.run([folder / "launcher"], capture_output=True, text=True, check=True).stdout == "launched\n"
    assert (tool.cache_dir / "share" / "stages" / "a" / "x.yaml").read_text() == "kind: Stage\n"


def test_a_missing_module_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESH_TRACING_TOOLS_CACHE", str(tmp_path / "cache"))
    spec = {
        "binaries": [{"package": "./one", "output": "one"}],
        "files": [{"module": "example.com/multi", "path": "dist/nope", "to": "bin/nope"}],
    }
    _module(tmp_path / "tools", TWO, spec)
    with pytest.raises(toolchain.BuildError, match=r"example.com/multi has no dist/nope \(wanted for bin/nope\)"):
        toolchain.build(toolchain.load_tool("multi", tmp_path / "tools"))
