"""`python -m meshtools.collectors`: the real collectors judge collector configs.

A rule about a collector's config that the project derives by reading source files is only as good
as the file that was read; the collectors themselves cannot be wrong about their own config. The
project builds them from their Go modules (`tools/collectors/`, through `tools/toolchain.py`, cached
by version) and runs their own `validate` subcommand: the released decoding (unknown keys are
refused) and every component's `Validate`, and the pipelines checked as the service builds them
(the SigNoz build's ClickHouse exporters are built without connecting; docs/collectors.md).

    validate --collector signoz|agent FILE   one config file, with the caller's environment
    check [--stacks-dir DIR]…               every collector config every stack renders (make collectors-check)

`check` renders each stack with the pinned charts (`meshtools.manifests`), finds each collector
container and its config (`meshtools.collector_configs`), and validates that config with the
container's own environment, so `${env:…}` references resolve as in the pod. Before validating it
holds the container's image tag to the built collector's version, and the config's component types
to the build's factories: a chart bump that changes an image tag, or a component the build lacks,
fails until the build is bumped.

Exit codes: 0 valid; 1 invalid (the collector's own message is printed, naming the stack); 2 cannot
run (a collector cannot be built, a file cannot be read), saying why.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from meshtools.cli import EXIT_CHANGED, EXIT_ERROR, EXIT_OK, ToolError, UsageError, run_command
from meshtools.collector_configs import (
    COLLECTOR_SECTIONS,
    COLLECTORS,
    Collector,
    RenderedConfig,
    component_types,
    missing_components,
    rendered_configs,
)
from meshtools.stacks import PROJECT_DIR, stack_names
from tools import toolchain

EXIT_INVALID = EXIT_CHANGED  # 1: a config the collector refuses
VALIDATE_TIMEOUT = 180  # seconds; a validate takes about one on an idle machine


@dataclass(frozen=True)
class Built:
    """A built collector: its binary, the version it was built at, and its component types."""

    collector: Collector
    binary: Path
    version: str
    components: dict[str, set[str]]


@dataclass(frozen=True)
class Verdict:
    valid: bool
    message: str


def tool_version(collector: Collector) -> str:
    try:
        return toolchain.load_tool(collector.tool).version
    except toolchain.BuildError as error:
        raise ToolError(str(error)) from None


@dataclass(frozen=True)
class Substitute:
    """A build of another release than the image's, because the image's cannot be had: the release it
    stands for and why (`stands_for` in the tool's tool.json)."""

    version: str
    reason: str


def stands_for(collector: Collector) -> Substitute | None:
    spec = json.loads((toolchain.TOOLS_DIR / collector.tool / "tool.json").read_text())
    found = spec.get("stands_for")
    return Substitute(str(found["version"]), str(found["reason"])) if found else None


def image_release(collector: Collector) -> str:
    """The image release a build judges configs for: its own, or the one it stands for."""
    substitute = stands_for(collector)
    return substitute.version if substitute else tool_version(collector)


def same_release(image_tag: str, version: str) -> bool:
    """An image tag names the release a tool version names (`0.139.0` is release `v0.139.0`)."""
    return image_tag.removeprefix("v") == version.removeprefix("v")


def build(collector: Collector) -> Built:
    """The collector's binary, built unless cached, with its version and its factories' types."""
    try:
        tool = toolchain.load_tool(collector.tool)
        if not tool.cached:
            print(f"building {collector.tool} {tool.version} (cold: many minutes; then cached)…", file=sys.stderr)
        folder, _ = toolchain.build(tool)
    except toolchain.BuildError as error:
        raise ToolError(f"the {collector.name} collector ({collector.tool}) cannot be built: {error}") from None
    binary = folder / tool.binaries[0].output
    listed = subprocess.run(
        [str(binary), "components"], capture_output=True, text=True, check=False, timeout=VALIDATE_TIMEOUT, env={}
    )
    if listed.returncode != 0:
        raise ToolError(f"{binary} components failed: {(listed.stderr or listed.stdout).strip()}")
    listing: dict[str, Any] = yaml.safe_load(listed.stdout) or {}
    types = {section: {str(c["name"]) for c in listing.get(section) or []} for section in COLLECTOR_SECTIONS}
    return Built(collector, binary, str((listing.get("buildinfo") or {}).get("version")), types)


def collector_message(output: str) -> str:
    """The collector's own error, once: the command prints it as `Error: …`, then logs it again."""
    lines = output.strip().splitlines()
    for index, line in enumerate(lines):
        if line.startswith("Error: "):
            message = [line.removeprefix("Error: "), *lines[index + 1 :]]
            first = message[0]
            # log.Fatal repeats the error behind a timestamp: `2026/01/02 15:04:05 <same text>`.
            end = next((i for i, text in enumerate(message) if i and text.endswith(first)), len(message))
            return "\n".join(message[:end]).strip()
    return output.strip()


# A pod's in-cluster API access (its service-account token and KUBERNETES_SERVICE_HOST) stands in as
# a kubeconfig naming an API server that is never reached: `validate` creates the API clients of
# components that watch the cluster (the loadbalancing exporter's Kubernetes resolver), and starts none.
IN_CLUSTER_STAND_IN = """apiVersion: v1
kind: Config
clusters: [{name: in-cluster, cluster: {server: "https://kubernetes.default.svc:443"}}]
users: [{name: service-account, user: {token: stand-in}}]
contexts: [{name: in-cluster, context: {cluster: in-cluster, user: service-account}}]
current-context: in-cluster
"""


def validate(built: Built, config: Path, env: Mapping[str, str]) -> Verdict:
    """`validate --config FILE` of the built collector, with `env` as its environment (and the
    in-cluster API access a pod has, as a stand-in kubeconfig)."""
    with tempfile.TemporaryDirectory(prefix="mesh-tracing-kube-") as folder:
        kubeconfig = Path(folder) / "config"
        kubeconfig.write_text(IN_CLUSTER_STAND_IN)
        try:
            done = subprocess.run(
                [str(built.binary), "validate", f"--config={config}"],
                capture_output=True,
                text=True,
                check=False,
                timeout=VALIDATE_TIMEOUT,
                env={"KUBECONFIG": str(kubeconfig), **env},
            )
        except subprocess.TimeoutExpired:
            raise ToolError(f"{built.binary} validate did not finish in {VALIDATE_TIMEOUT} s") from None
    return Verdict(done.returncode == 0, "" if done.returncode == 0 else collector_message(done.stderr + done.stdout))


def validate_text(built: Built, text: str, env: Mapping[str, str], file_name: str = "config.yaml") -> Verdict:
    with tempfile.TemporaryDirectory(prefix="mesh-tracing-collector-") as folder:
        path = Path(folder) / file_name
        path.write_text(text)
        return validate(built, path, env)


def judge(rendered: RenderedConfig, built: Built | ToolError, version: str) -> list[str]:
    """Why a rendered config fails (empty: it is valid): the image's release against the build's,
    the components it uses against the build's, then the collector's own `validate`."""
    if not same_release(rendered.image_tag, version):
        return [
            f"it runs {rendered.image}, but {rendered.collector.tool} builds {version}: build the "
            f"collector of that release (docs/collectors.md, bumping a collector)"
        ]
    if isinstance(built, ToolError):
        return [f"not validated: {rendered.collector.tool} cannot be built (its error is printed first)"]
    try:
        config = rendered.config
    except yaml.YAMLError as error:
        return [f"its config {rendered.path} is not YAML: {error}"]
    missing = missing_components(component_types(config), built.components)
    if missing:
        return [
            f"it uses {', '.join(missing)}, which {rendered.collector.tool} does not build: add the factories "
            f"to the build (docs/collectors.md)"
        ]
    verdict = validate_text(built, rendered.text, rendered.env, Path(rendered.path).name)
    return [] if verdict.valid else [f"the collector refuses {rendered.path}:\n{verdict.message}"]


def stack_configs(stack: str, stacks_dir: Path) -> list[RenderedConfig]:
    """The collector configs one stack renders (the pinned charts, the program's values)."""
    from meshtools.desired import desired_state  # noqa: PLC0415 - the program and Helm load only here
    from meshtools.manifests import stack_manifests  # noqa: PLC0415
    from meshtools.recording import run_stack  # noqa: PLC0415

    run = run_stack(stack, stacks_dir=stacks_dir)
    return rendered_configs(stack_manifests(desired_state(stack, run)).objects)


def _label(stacks_dir: Path, stack: str) -> str:
    path = (stacks_dir / f"Pulumi.{stack}.yaml").resolve()
    return str(path.relative_to(PROJECT_DIR)) if path.is_relative_to(PROJECT_DIR) else str(path)


def check(stacks_dirs: Sequence[Path]) -> int:
    started = time.monotonic()
    builds: dict[str, Built | ToolError] = {}
    for collector in COLLECTORS.values():
        try:
            builds[collector.name] = build(collector)
        except ToolError as error:
            print(f"error: {error}", file=sys.stderr)
            builds[collector.name] = error
    releases = {name: image_release(collector) for name, collector in COLLECTORS.items()}
    versions = {name: tool_version(collector) for name, collector in COLLECTORS.items()}
    for name, collector in COLLECTORS.items():
        substitute = stands_for(collector)
        if substitute is not None:
            print(f"note: the {name} collector {versions[name]} stands for {substitute.version}: {substitute.reason}")
    failures = judged = 0
    for stacks_dir in stacks_dirs:
        for stack in stack_names(stacks_dir):
            label = _label(stacks_dir, stack)
            configs = stack_configs(stack, stacks_dir)
            if not configs:
                print(f"FAIL {label}: renders no collector config", flush=True)
                failures += 1
            for rendered in configs:
                judged += 1
                name = rendered.collector.name
                problems = judge(rendered, builds[name], releases[name])
                what = f"{label}: {rendered.workload} ({name} collector {versions[name]}, {rendered.path})"
                if problems:
                    failures += 1
                    print(f"FAIL {what}: " + "\n".join(problems), flush=True)
                else:
                    print(f"ok   {what}", flush=True)
    seconds = time.monotonic() - started
    print(f"{judged - failures} of {judged} collector configs valid ({seconds:.0f} s)", file=sys.stderr)
    if any(isinstance(b, ToolError) for b in builds.values()):
        return EXIT_ERROR
    return EXIT_INVALID if failures else EXIT_OK


def validate_one(collector_name: str, file: Path) -> int:
    if not file.is_file():
        raise UsageError(f"{file} is not a file: name the collector config to validate")
    built = build(COLLECTORS[collector_name])
    verdict = validate(built, file.resolve(), os.environ)
    if verdict.valid:
        print(f"{file}: valid for the {collector_name} collector {built.version}")
        return EXIT_OK
    print(f"{file}: invalid for the {collector_name} collector {built.version}:\n{verdict.message}", file=sys.stderr)
    return EXIT_INVALID


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m meshtools.collectors", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("validate", help="validate one config file with a built collector")
    one.add_argument("--collector", required=True, choices=sorted(COLLECTORS))
    one.add_argument("file", type=Path)
    every = commands.add_parser("check", help="validate every collector config the stacks render")
    every.add_argument(
        "--stacks-dir",
        type=Path,
        action="append",
        help="a folder of Pulumi.<stack>.yaml files (repeatable; default: the project's)",
    )
    args = parser.parse_args(argv)
    if args.command == "validate":
        return validate_one(args.collector, args.file)
    return check([d.resolve() for d in args.stacks_dir or [PROJECT_DIR]])


if __name__ == "__main__":
    sys.exit(run_command(main))
