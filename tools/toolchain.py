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

TOOLS_DIR = Path(__file__).resolve().parent
COMPLETE = ".complete"


class BuildError(Exception):
    """A tool could not be built; the message says which command failed and Go's output."""


@dataclass(frozen=True)
class Binary:
    package: str
    output: str
    ldflags: tuple[str, ...]


@dataclass(frozen=True)
class Tool:
    name: str
    folder: Path
    version: str
    binaries: tuple[Binary, ...]
    env: dict[str, str]
    generate: tuple[tuple[str, ...], ...]

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
        Binary(package=b["package"], output=b["output"], ldflags=tuple(b.get("ldflags", ()))) for b in spec["binaries"]
    )
    return Tool(
        name=name.replace("/", "-"),
        folder=folder,
        version=str(spec["version"]),
        binaries=binaries,
        env={str(k): str(v) for k, v in spec.get("env", {}).items()},
        generate=tuple(tuple(command) for command in spec.get("generate", ())),
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
        for step in tool.generate:
            _run(list(step), tool.folder, env)
        for binary in tool.binaries:
            command = ["go", "build", "-trimpath", "-o", str(staging / "bin" / binary.output)]
            if binary.ldflags:
                command += ["-ldflags", " ".join(binary.ldflags)]
            _run([*command, binary.package], tool.folder, env)
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
