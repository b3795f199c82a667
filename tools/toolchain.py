"""Builds the real upstream binaries the project runs (collectors, the Pulumi engine, an API server)
from their own Go modules, and caches them by version so a warm run never rebuilds.

Each tool is a folder `tools/<name>/` holding a Go module of ours (its `go.mod` pins the upstream
module and repeats the upstream `replace` lines, its `go.sum` is committed) and a `tool.json`:

    {
      "version": "v0.144.5",                      # the upstream release the binaries are
      "binaries": [
        {"package": "github.com/…/cmd/x",        # what `go build` builds, from this module
         "output": "x",                           # file name in the cache's bin/
         "ldflags": ["-X", "pkg.Version=v1.2.3"]}  # as the upstream release build sets them
      ],
      "env": {"CGO_ENABLED": "0"},                 # optional build environment
      "generate": [["go", "run", "…"]]            # optional commands run in the module first;
    }                                              # they write only under $MESH_TRACING_STAGING

Optional, for upstream builds that need more than `go build`:

      "binaries": [{"packages": ["…/cmd/a", "…/cmd/b"], "ldflags": […]}]
                      # several commands in one `go build` (each named after its package's last element)
      "files": [{"module": "github.com/…/sdk/v3", "path": "python/dist/x", "to": "bin/x",
                 "version": "v3.219.0", "executable": true}]
                      # copied out of a downloaded module, unchanged, before generate runs: the version the
                      # tool's go.mod selects, or `version` for a module outside its build
      "source": "github.com/…/provider/v4"
                      # build inside a writable copy of this module (the version the tool's go.mod
                      # selects) rather than from the tool's folder, as upstream builds it from its
                      # own folder: the copy's go.mod gets the tool's go.mod's replace lines (its
                      # directory replaces made versioned) and go.sum lines; generate steps may write
                      # into it (`go generate` of a schema a package embeds); removed after the build
      "generate": [{"run": ["go", "generate", "./cmd/x"], "env": {"VERSION": "1.2.3"}}]
                      # a step with its own environment; steps and builds run in the source copy, if
                      # any, else in the tool's folder

The cache key is the version plus a digest of the folder's files and the Go version, so a bump of
either pin, or of the wrapper code, builds anew, and nothing else does. Binaries live under
`$MESH_TRACING_TOOLS_CACHE` (default `~/.cache/mesh-tracing/tools`), beside Go's own module and build
caches under `$HOME`. Stdlib only: it runs before any virtualenv exists.

    python -m tools.toolchain path NAME      build if needed, print the folder holding NAME's binaries
    python -m tools.toolchain build NAME…    build if needed, print what was built or reused and how long it took
    python -m tools.toolchain list           the tools, their versions and whether they are cached

Exit codes: 0 done; 2 a tool cannot be built (the failing command and Go's own message are printed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOOLS_DIR = Path(__file__).resolve().parent
COMPLETE = ".complete"
SOURCE = "src"  # the writable copy of a tool's `source` module, inside the staging folder


class BuildError(Exception):
    """A tool could not be built; the message says which command failed and Go's output."""


@dataclass(frozen=True)
class Binary:
    package: str
    output: str
    ldflags: tuple[str, ...]
    # Several commands built by one `go build -o bin/` (outputs named after the packages): the packages
    # they share are compiled and loaded once.
    packages: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModuleFile:
    """A file or folder copied unchanged out of a downloaded module into the tool's cache folder."""

    module: str
    path: str
    to: str
    version: str = ""  # empty: the version the tool's go.mod selects
    executable: bool = False


@dataclass(frozen=True)
class Step:
    """A generate step: a command and the environment it adds."""

    run: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Tool:
    name: str
    folder: Path
    version: str
    binaries: tuple[Binary, ...]
    env: dict[str, str]
    generate: tuple[Step, ...]
    files: tuple[ModuleFile, ...] = ()
    source: str = ""  # a module to build inside a writable copy of

    @property
    def key(self) -> str:
        """Digest of everything that decides the binaries: the folder's files and the Go version."""
        digest = hashlib.sha256(go_version().encode())
        for path in sorted(p for p in self.folder.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(self.folder)).encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()[:12]

    @property
    def cache_dir(self) -> Path:
        return cache_root() / self.name / f"{self.version}-{self.key}"

    @property
    def cached(self) -> bool:
        return (self.cache_dir / COMPLETE).is_file()


def cache_root() -> Path:
    configured = os.environ.get("MESH_TRACING_TOOLS_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "mesh-tracing" / "tools"


def go_version() -> str:
    try:
        return subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as error:
        raise BuildError(f"cannot run `go env GOVERSION` ({error}); install Go 1.26 or later") from error


def tool_names(tools_dir: Path = TOOLS_DIR) -> list[str]:
    return sorted(str(p.parent.relative_to(tools_dir)) for p in tools_dir.rglob("tool.json"))


def load_tool(name: str, tools_dir: Path = TOOLS_DIR) -> Tool:
    folder = tools_dir / name
    spec_file = folder / "tool.json"
    if not spec_file.is_file():
        known = ", ".join(tool_names(tools_dir))
        raise BuildError(f"no tool {name!r}: {spec_file} does not exist; tools: {known}")
    spec = json.loads(spec_file.read_text())
    binaries = tuple(
        Binary(
            package=b.get("package", ""),
            output=b.get("output", ""),
            ldflags=tuple(b.get("ldflags", ())),
            packages=tuple(b.get("packages", ())),
        )
        for b in spec["binaries"]
    )
    return Tool(
        name=name.replace("/", "-"),
        folder=folder,
        version=str(spec["version"]),
        binaries=binaries,
        env={str(k): str(v) for k, v in spec.get("env", {}).items()},
        generate=tuple(_step(entry) for entry in spec.get("generate", ())),
        files=tuple(
            ModuleFile(
                module=f["module"],
                path=f["path"],
                to=f["to"],
                version=str(f.get("version", "")),
                executable=bool(f.get("executable", False)),
            )
            for f in spec.get("files", ())
        ),
        source=str(spec.get("source", "")),
    )


def _step(entry: list[str] | dict[str, Any]) -> Step:
    if isinstance(entry, list):
        return Step(run=tuple(entry))
    return Step(
        run=tuple(str(part) for part in entry["run"]),
        env=tuple((str(k), str(v)) for k, v in entry.get("env", {}).items()),
    )


def _go_env(tool: Tool) -> dict[str, str]:
    env = dict(os.environ)
    # Never fetch another Go toolchain (it is a binary download); fail naming the version instead.
    env.setdefault("GOTOOLCHAIN", "local")
    env.setdefault("GOFLAGS", "-buildvcs=false")
    env.update(tool.env)
    return env


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip().splitlines()
        tail = "\n".join(output[-40:])
        raise BuildError(f"`{' '.join(command)}` in {cwd} failed (exit {done.returncode}):\n{tail}")


def _module_dir(path: str, version: str, tool: Tool, env: dict[str, str], scratch: Path) -> Path:
    """The downloaded source of module `path`: at `version`, or at the version the tool's go.mod selects
    (its replacement where it has one). Downloads run outside the tool's folder, so its go.sum is never
    written; the checksum database verifies what they fetch."""
    if not version:
        listed = _json_of(["go", "list", "-m", "-json", path], tool.folder, env)
        if listed.get("Main"):
            return tool.folder
        chosen = listed.get("Replace") or listed
        assert isinstance(chosen, dict)
        path, version = str(chosen["Path"]), str(chosen.get("Version", ""))
        if not version:
            raise BuildError(f"{tool.name}: {path} is replaced by a directory, not a released module")
    downloaded = _json_of(["go", "mod", "download", "-json", f"{path}@{version}"], scratch, env)
    if "Dir" not in downloaded:
        raise BuildError(f"`go mod download {path}@{version}` failed: {downloaded.get('Error', downloaded)}")
    return Path(str(downloaded["Dir"]))


def _json_of(command: list[str], cwd: Path, env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    try:
        parsed = json.loads(done.stdout) if done.stdout.strip() else None
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict) or (done.returncode != 0 and "Error" not in parsed):
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-20:])
        raise BuildError(f"`{' '.join(command)}` in {cwd} failed (exit {done.returncode}):\n{tail}")
    return parsed


class _Modules:
    """Downloaded module sources, each looked up once per build."""

    def __init__(self, tool: Tool, env: dict[str, str], scratch: Path) -> None:
        self.tool, self.env, self.scratch = tool, env, scratch
        self.found: dict[tuple[str, str], Path] = {}

    def __call__(self, path: str, version: str = "") -> Path:
        if (path, version) not in self.found:
            self.found[path, version] = _module_dir(path, version, self.tool, self.env, self.scratch)
        return self.found[path, version]


def _copy_files(tool: Tool, modules: _Modules, staging: Path) -> None:
    for entry in tool.files:
        source = modules(entry.module, entry.version) / entry.path
        target = staging / entry.to
        if not source.exists():
            raise BuildError(f"{tool.name}: {entry.module} has no {entry.path} (wanted for {entry.to})")
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
        # The module cache is read-only; the copies are the cache's own files.
        for path in [target, *target.rglob("*")]:
            mode = 0o755 if path.is_dir() or entry.executable else 0o644
            path.chmod(mode)


def _source_copy(tool: Tool, modules: _Modules, staging: Path, env: dict[str, str]) -> Path:
    """A writable copy of `tool.source` whose go.mod carries the tool's replace lines and whose
    go.sum holds the tool's checksums, so it builds the tool's module graph from its own folder."""
    copy = staging / SOURCE
    shutil.copytree(modules(tool.source), copy)
    for path in [copy, *copy.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    edits = _json_of(["go", "mod", "edit", "-json"], tool.folder, env)
    for replace in edits.get("Replace") or []:  # type: ignore[attr-defined]
        old, new = replace["Old"], replace["New"]
        if not new.get("Version"):
            raise BuildError(f"{tool.name}: go.mod replaces {old['Path']} by a directory; pin a released version")
        left = f"{old['Path']}@{old['Version']}" if old.get("Version") else old["Path"]
        _run(["go", "mod", "edit", f"-replace={left}={new['Path']}@{new['Version']}"], copy, env)
    sums = [path.read_text() for path in (copy / "go.sum", tool.folder / "go.sum") if path.exists()]
    (copy / "go.sum").write_text("".join(sums))
    return copy


def _build_commands(tool: Tool, staging: Path) -> list[list[str]]:
    commands = []
    for binary in tool.binaries:
        # With several packages, `-o` names a folder and each command is named after its package.
        output = str(staging / "bin") + "/" if binary.packages else str(staging / "bin" / binary.output)
        command = ["go", "build", "-trimpath", "-o", output]
        if binary.ldflags:
            command += ["-ldflags", " ".join(binary.ldflags)]
        commands.append([*command, *(binary.packages or (binary.package,))])
    return commands


def build(tool: Tool) -> tuple[Path, float]:
    """The folder of the tool's binaries, built unless already cached; and the seconds the build took."""
    if tool.cached:
        return tool.cache_dir / "bin", 0.0
    started = time.monotonic()
    env = _go_env(tool)
    tool.cache_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{tool.version}-", dir=tool.cache_dir.parent))
    try:
        env["MESH_TRACING_STAGING"] = str(staging)
        modules = _Modules(tool, env, staging)
        _copy_files(tool, modules, staging)
        workdir = _source_copy(tool, modules, staging, env) if tool.source else tool.folder
        for step in tool.generate:
            _run(list(step.run), workdir, {**env, **dict(step.env)})
        for command in _build_commands(tool, staging):
            _run(command, workdir, env)
        shutil.rmtree(staging / SOURCE, ignore_errors=True)
        (staging / COMPLETE).write_text(json.dumps({"version": tool.version, "go": go_version()}) + "\n")
        if tool.cache_dir.exists():
            shutil.rmtree(tool.cache_dir)
        staging.rename(tool.cache_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return tool.cache_dir / "bin", time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.toolchain", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("path", help="build if needed; print the folder of the binaries").add_argument("name")
    commands.add_parser("build", help="build if needed, with timings").add_argument("names", nargs="+")
    commands.add_parser("list", help="the tools, their versions and whether they are cached")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for name in tool_names():
                tool = load_tool(name)
                state = f"cached in {tool.cache_dir}" if tool.cached else "not built"
                print(f"{name:28} {tool.version:24} {state}")
        elif args.command == "path":
            print(build(load_tool(args.name))[0])
        else:
            for name in args.names:
                tool = load_tool(name)
                was_cached = tool.cached
                folder, seconds = build(tool)
                how = "reused" if was_cached else f"built in {seconds:.0f} s"
                print(f"{name} {tool.version}: {how} ({folder})", file=sys.stderr)
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
