"""A Helm chart repository on loopback holding every chart version of the version table.

The Kubernetes provider's `Release` takes a chart from an http(s) or OCI repository, never from a
folder, so `make e2e` packages each pinned chart from the local chart source (`meshtools.charts`:
MESH_TRACING_CHART_MIRROR or the verified `.charts/` cache) and serves the archives and their
`index.yaml` from 127.0.0.1. A stack points at it with `chartRepository`, as an air-gapped site
points at its internal repository.

Where the local source holds another version than the pinned one (a git tree whose Chart.yaml says
1.0.0, or the release the facts were derived from), the chart is packaged under the pinned version,
and the substitution is reported: the version the provider installs is the pinned one, its files
are those of the version named in the note.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import re
import tarfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from meshtools.charts import ChartSource, locate
from meshtools.cli import ToolError
from versions.table import CHARTS, ChartId

_VERSION_LINE = re.compile(r"^version:.*$", re.M)


@dataclass(frozen=True)
class PackagedChart:
    name: str
    version: str
    archive: str  # file name in the repository folder
    digest: str
    app_version: str
    api_version: str
    note: str  # what the archive holds when it is not the pinned release itself


def with_version(chart_yaml: str, version: str) -> str:
    """Chart.yaml text with its top-level `version:` set, every other line kept as written."""
    if not _VERSION_LINE.search(chart_yaml):
        raise ToolError("Chart.yaml has no top-level `version:` line")
    return _VERSION_LINE.sub(f"version: {version}", chart_yaml, count=1)


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    archive.addfile(info, io.BytesIO(data))


def _members_of_folder(folder: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        yield path.relative_to(folder).as_posix(), path.read_bytes()


def _members_of_archive(path: Path) -> Iterator[tuple[str, bytes]]:
    with tarfile.open(path) as source:
        for member in source.getmembers():
            extracted = source.extractfile(member) if member.isfile() else None
            if extracted is not None:
                # Archives hold one top folder, the chart's name.
                yield member.name.split("/", 1)[1], extracted.read()


def _switched_off(values: Mapping[str, Any], condition: str) -> bool:
    """Whether a dependency's `condition` (a dotted values path) is false in the chart's defaults."""
    node: Any = values
    for part in condition.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node is False


def without_absent_dependencies(members: dict[str, bytes], name: str) -> list[str]:
    """Drop from Chart.yaml the dependencies a source tree lacks under charts/ — only those its
    values switch off, which a released archive carries without rendering; notes name each one.

    A chart repository's git tree holds the subcharts it vendors, not those `helm dependency build`
    fetches from other repositories for the packaged release; Helm refuses to install a chart that
    lists a dependency it does not hold, enabled or not."""
    chart = yaml.safe_load(members["Chart.yaml"]) or {}
    values = yaml.safe_load(members.get("values.yaml", b"")) or {}
    kept, notes = [], []
    for dependency in chart.get("dependencies") or []:
        held = any(m.startswith(f"charts/{dependency['name']}/") for m in members) or any(
            re.fullmatch(rf"charts/{re.escape(dependency['name'])}-[^/]+\.tgz", m) for m in members
        )
        if held:
            kept.append(dependency)
            continue
        condition = str(dependency.get("condition", ""))
        if not condition or not _switched_off(values, condition):
            raise ToolError(
                f"{name}: subchart {dependency['name']} is not in the chart source and not switched off by default"
            )
        notes.append(f"{name}: subchart {dependency['name']} ({condition}: false) absent from the source; left out")
    if notes:
        chart["dependencies"] = kept
        members["Chart.yaml"] = yaml.safe_dump(chart, sort_keys=False).encode()
    return notes


def package(source: ChartSource, name: str, version: str) -> tuple[bytes, dict[str, Any], str]:
    """The chart at `source` as `<name>-<version>.tgz` content (Chart.yaml's version set to the pinned
    one), its Chart.yaml, and a note naming what the archive really holds when that differs."""
    members = dict(_members_of_folder(source.path) if source.path.is_dir() else _members_of_archive(source.path))
    if "Chart.yaml" not in members:
        raise ToolError(f"{source.path}: no Chart.yaml")
    notes = [source.note] if source.note else []
    notes += without_absent_dependencies(members, name)
    chart_yaml = members["Chart.yaml"].decode()
    metadata = yaml.safe_load(chart_yaml) or {}
    found = str(metadata.get("version", ""))
    if found != version:
        notes.append(f"{name}: Chart.yaml of the {source.version} source says version {found}; served as {version}")
        chart_yaml = with_version(chart_yaml, version)
        members["Chart.yaml"] = chart_yaml.encode()
        metadata = yaml.safe_load(chart_yaml)
    buffer = io.BytesIO()
    # A fixed mtime: the same source packs to the same bytes, so the digest says what changed.
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as archive:
        for member, data in sorted(members.items()):
            _add_bytes(archive, f"{name}/{member}", data)
    return buffer.getvalue(), metadata, "; ".join(notes)


def build(folder: Path, charts: dict[ChartId, tuple[str, ...]] | None = None) -> list[PackagedChart]:
    """Package every version of every chart of the version table into `folder`, with index.yaml."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = charts if charts is not None else {chart_id: chart.versions for chart_id, chart in CHARTS.items()}
    packaged = []
    for chart_id, versions in wanted.items():
        name = CHARTS[chart_id].name
        for version in versions:
            data, metadata, note = package(locate(chart_id, version), name, version)
            archive = f"{name}-{version}.tgz"
            (folder / archive).write_bytes(data)
            packaged.append(
                PackagedChart(
                    name=name,
                    version=version,
                    archive=archive,
                    digest=hashlib.sha256(data).hexdigest(),
                    app_version=str(metadata.get("appVersion", "")),
                    api_version=str(metadata.get("apiVersion", "v2")),
                    note=note,
                )
            )
    (folder / "index.yaml").write_text(yaml.safe_dump(index(packaged), sort_keys=True))
    return packaged


def index(packaged: list[PackagedChart]) -> dict[str, Any]:
    """A Helm repository index (apiVersion v1) listing each archive with its sha256 digest."""
    entries: dict[str, list[dict[str, Any]]] = {}
    for chart in packaged:
        entries.setdefault(chart.name, []).append(
            {
                "apiVersion": chart.api_version,
                "name": chart.name,
                "version": chart.version,
                "appVersion": chart.app_version,
                "digest": chart.digest,
                "urls": [chart.archive],
                "created": "2000-01-01T00:00:00Z",
            }
        )
    return {"apiVersion": "v1", "entries": entries, "generated": "2000-01-01T00:00:00Z"}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1 (a free port) until the block ends; yields the repository URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="chart-repository", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
