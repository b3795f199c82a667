"""The one place a Helm engine is called: render a chart as `helm install` would, offline.

Two interchangeable engines give the same documents: a `helm` binary on PATH (`helm template`,
GitHub's runners have one), else the embedded Helm v4 of PyPI `helm-python-sdk` (young: two
releases, one author — hence this seam). MESH_TRACING_HELM=sdk|cli|auto picks one. Both return
the chart's CRDs (its `crds/` folder, which `helm install` applies first) and every rendered
template except NOTES.txt and test hooks, which an install does not create.

Offline, Helm knows no cluster, so both engines are told what a real one would advertise: the
oldest supported Kubernetes version and every built-in `group/version/Kind` it serves (templates
test e.g. `networking.k8s.io/v1/Ingress` and fall back to removed APIs without it).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from meshtools import yamlio
from meshtools.cli import ToolError
from versions.table import all_kubernetes_versions

ENGINE_ENV = "MESH_TRACING_HELM"
_SOURCE = re.compile(r"^# Source: (.+)$", re.M)
_DOCUMENT_SPLIT = re.compile(r"(?:^|\n)---\s*(?:\n|$)")


@dataclass(frozen=True)
class Document:
    """One rendered object and the chart file it came from."""

    source: str
    object: dict[str, Any]


class Engine(Protocol):
    name: str

    def render(self, chart: Path, values: Mapping[str, Any], release: str, namespace: str) -> list[Document]: ...


def parse(source: str, text: str) -> list[Document]:
    """The objects of one rendered file (empty documents and comment-only documents dropped)."""
    documents = []
    for part in _DOCUMENT_SPLIT.split(text):
        loaded = yamlio.load(part) if part.strip() else None
        if isinstance(loaded, dict) and loaded.get("kind"):
            documents.append(Document(source, loaded))
    return documents


def is_test_hook(document: Document) -> bool:
    hooks = str(((document.object.get("metadata") or {}).get("annotations") or {}).get("helm.sh/hook", ""))
    return any(hook.strip().startswith("test") for hook in hooks.split(","))


KUBE_VERSION = f"v{all_kubernetes_versions()[0]}"


@functools.cache
def api_versions() -> tuple[str, ...]:
    """Every built-in `group/version/Kind` of KUBE_VERSION, from the API schemas kubernetes-validate
    ships (its definitions carry x-kubernetes-group-version-kind)."""
    from importlib.resources import files  # noqa: PLC0415 - only when rendering

    try:
        path = (
            files("kubernetes_validate")
            / "kubernetes-json-schema"
            / f"{KUBE_VERSION}-local-strict"
            / "_definitions.json"
        )
        definitions = json.loads(path.read_text())["$defs"]
    except (ModuleNotFoundError, FileNotFoundError) as error:
        raise ToolError(
            f"the Kubernetes {KUBE_VERSION} API list comes with the dev tier (`make install-dev`): {error}"
        ) from None
    found = set()
    for definition in definitions.values():
        for gvk in definition.get("x-kubernetes-group-version-kind") or []:
            group_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
            if gvk["kind"] not in {"DeleteOptions", "WatchEvent", "Status", "APIGroup", "APIVersions"}:
                found.add(f"{group_version}/{gvk['kind']}")
    return tuple(sorted(found))


# Helm's value coalescing warns when a chart's default is a list where a subchart expects a map
# (signoz 0.131.0: zookeeper.initContainers); the CLI prints the same. Harmless: not repeated here.
_BENIGN_WARNING = re.compile(r"warning: skipped value for \S+: Not a table\.$")


@contextlib.contextmanager
def _go_warnings() -> Iterator[None]:
    """The embedded Helm writes warnings straight to file descriptor 2, past Python: collect them,
    drop the benign ones, and pass the rest on to stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode(errors="replace").splitlines():
                if line.strip() and not _BENIGN_WARNING.search(line):
                    print(line, file=sys.stderr)


class SdkEngine:
    name = "helm-python-sdk"

    def render(self, chart: Path, values: Mapping[str, Any], release: str, namespace: str) -> list[Document]:
        try:
            import helm_python  # noqa: PLC0415 - a dev dependency: import only when rendering
            from helm_python import _native  # noqa: PLC0415 - render() does not take kube/API versions
        except ImportError as error:
            raise ToolError(
                "rendering charts needs the dev tier (`make install-dev`, PyPI helm-python-sdk) or a helm binary"
            ) from error
        options = {
            "name": release,
            "namespace": namespace,
            "is_install": True,
            "kube_version": KUBE_VERSION,
            "api_versions": list(api_versions()),
        }
        try:
            with _go_warnings(), helm_python.Chart.load(str(chart)) as loaded:
                text = _native.call_string("helm_render", loaded._raw(), json.dumps(dict(values)), json.dumps(options))
                rendered: dict[str, str] = json.loads(text)
                crds = [(c["filename"], c["data"]) for c in loaded.crds or []]
        except helm_python.HelmError as error:
            raise ToolError(f"helm could not render {chart} for release {release}: {error}") from None
        documents = [d for name, text in sorted(crds) for d in parse(name, text)]
        for name, text in sorted(rendered.items()):
            if not name.endswith("NOTES.txt"):
                documents += [d for d in parse(name, text) if not is_test_hook(d)]
        return documents


class CliEngine:
    name = "helm"

    def __init__(self, binary: str) -> None:
        self.binary = binary

    def render(self, chart: Path, values: Mapping[str, Any], release: str, namespace: str) -> list[Document]:
        with tempfile.TemporaryDirectory(prefix="mesh-tracing-helm-") as home:
            values_file = Path(home) / "values.json"
            values_file.write_text(json.dumps(values))
            command = [self.binary, "template", release, str(chart), "--namespace", namespace]
            command += ["--values", str(values_file), "--include-crds", "--skip-tests", "--kube-version", KUBE_VERSION]
            command += [f"--api-versions={api}" for api in api_versions()]
            env = {**os.environ, "HELM_CACHE_HOME": home, "HELM_CONFIG_HOME": home, "HELM_DATA_HOME": home}
            result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            raise ToolError(f"helm could not render {chart} for release {release}: {result.stderr.strip()}")
        documents = []
        for block in result.stdout.split("\n---\n"):
            found = _SOURCE.search(block)
            if found:
                documents += parse(found.group(1), block)
        return documents


def engine() -> Engine:
    """The engine MESH_TRACING_HELM asks for; `auto` (default) prefers a helm binary on PATH."""
    wanted = os.environ.get(ENGINE_ENV, "auto")
    if wanted not in {"auto", "sdk", "cli"}:
        raise ToolError(f"{ENGINE_ENV}={wanted!r}: use auto, sdk or cli")
    binary = shutil.which("helm")
    if wanted == "cli" or (wanted == "auto" and binary):
        if binary is None:
            raise ToolError(f"{ENGINE_ENV}=cli, but there is no `helm` on PATH")
        return CliEngine(binary)
    return SdkEngine()


@functools.cache
def _render_cached(engine_name: str, chart: str, values: str, release: str, namespace: str) -> tuple[Document, ...]:
    chosen = engine()
    assert chosen.name == engine_name
    return tuple(chosen.render(Path(chart), json.loads(values), release, namespace))


def clear_cache() -> None:
    _render_cached.cache_clear()


def render(chart: Path, values: Mapping[str, Any], release: str, namespace: str) -> list[Document]:
    """Render once per distinct input in a process (the tests render the same releases often)."""
    key = json.dumps(values, sort_keys=True)
    return list(_render_cached(engine().name, str(chart), key, release, namespace))
