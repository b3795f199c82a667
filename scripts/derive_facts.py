"""`make facts`: derive compact facts from the upstream charts of every version in the version table.

For each folder `versions/<family>/<version>/`, reads the chart of the release its `release.yaml` names
as `upstream` (the version itself by default) — from the chart mirror (MESH_TRACING_CHART_MIRROR) or
the verified download cache (`make charts`) — and writes, under that folder's `facts/`:

  <chart id>.json         every value path the chart's default values define (subcharts under their
                          name), which of them are open maps (empty `{}` defaults users fill freely)
                          and lists; and the defaults the program restates because Helm replaces
                          lists whole: the SigNoz collector's pipelines and extensions, Kiali's
                          display details, the k8s-infra agent's pipelines and batch settings, the
                          prometheus chart's scrape jobs
  crd-<group>-<version>-<kind>.json
                          the openAPIV3Schema of each custom resource the program writes (Istio's
                          from its base chart), descriptions stripped

  meshconfig.json         (istiod) Istio's MeshConfig message as its JSON form accepts it, from the
                          `.proto` files of the released Go module istio.io/api at v<version>
                          (`go mod download`; `api` in release.yaml names another version)

Sources that are not in a chart come from `--extra DIR`, laid out `<what>/<version>/<file>`:
  kiali/<version>/kiali-operator-crds.yaml           the Kiali CRD (kiali/kiali-operator at that tag)
  signoz-otel-collector/<tag>/components.go          SigNoz/signoz-otel-collector at the image tag
  otelcol-contrib/<version>/manifest.yaml            open-telemetry/opentelemetry-collector-releases
                                                     v<version>, distributions/otelcol-contrib/
Facts whose source is not available are left as they are, and named.

Nothing upstream is copied verbatim: comments and descriptions are dropped and only the defaults the
program must restate are kept.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from meshtools import yamlio
from meshtools.charts import locate
from meshtools.cli import ToolError
from scripts import proto_schema
from versions.table import (
    CHARTS,
    FACTS_DIR,
    VERSIONS_DIR,
    ChartId,
    release_data,
    upstream_version,
    version_dir,
)

INTERNAL_DEFAULTS = "_internal_defaults_do_not_set"

# Subcharts whose values a parent chart reaches under their name: (path prefix, file in the chart).
SUBCHART_VALUES: dict[ChartId, list[tuple[str, str]]] = {
    ChartId.SIGNOZ: [
        ("clickhouse", "charts/clickhouse/values.yaml"),
        ("clickhouse.zookeeper", "charts/clickhouse/charts/zookeeper/values.yaml"),
    ],
}
# Custom resources the program writes, and the chart file holding their CRDs.
CHART_CRDS: dict[ChartId, tuple[str, list[tuple[str, str, str]]]] = {
    ChartId.ISTIO_BASE: (
        "files/crd-all.gen.yaml",
        [("telemetry.istio.io", "v1", "Telemetry"), ("security.istio.io", "v1", "PeerAuthentication")],
    ),
}
EXTRA_CRDS: dict[ChartId, tuple[str, list[tuple[str, str, str]]]] = {
    ChartId.KIALI: ("kiali/{version}/kiali-operator-crds.yaml", [("kiali.io", "v1alpha1", "Kiali")]),
}


class ChartFiles:
    """Files of one chart, from a chart directory or a packaged `.tgz`."""

    def __init__(self, path: Path, name: str) -> None:
        self.path, self.name = path, name
        self._members: dict[str, bytes] | None = None
        if path.is_file():
            with tarfile.open(path) as archive:
                self._members = {
                    member.name.split("/", 1)[1]: archive.extractfile(member).read()  # type: ignore[union-attr]
                    for member in archive.getmembers()
                    if member.isfile() and "/" in member.name
                }

    def read(self, relative: str) -> str | None:
        if self._members is not None:
            data = self._members.get(relative)
            return data.decode() if data is not None else None
        file = self.path / relative
        return file.read_text() if file.is_file() else None


def walk(node: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """Every (dotted path, value) below `node`; lists are leaves (Helm replaces them whole)."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path, value
            yield from walk(value, path)


def chart_facts(files: ChartFiles, chart: ChartId, version: str, source: str) -> dict[str, Any]:
    paths: set[str] = set()
    open_maps: set[str] = set()
    lists: set[str] = set()
    main_values: dict[str, Any] = {}
    sources = []
    for prefix, relative in [("", "values.yaml"), *SUBCHART_VALUES.get(chart, [])]:
        text = files.read(relative)
        if text is None:
            raise ToolError(f"{files.path}: no {relative}")
        sources.append(f"{CHARTS[chart].name} {source}: {relative}")
        values = yamlio.load(text) or {}
        if set(values) == {INTERNAL_DEFAULTS}:
            values = values[INTERNAL_DEFAULTS]  # Istio charts: users set these keys at top level
        if not prefix:
            main_values = values
        else:
            # Parent charts reach a subchart's values under its name.
            parts = prefix.split(".")
            for i in range(1, len(parts) + 1):
                paths.add(".".join(parts[:i]))
        for path, value in walk(values, prefix):
            paths.add(path)
            if isinstance(value, dict) and not value:
                open_maps.add(path)
            if isinstance(value, list):
                lists.add(path)
    facts: dict[str, Any] = {
        "chart": chart.value,
        "version": version,
        "derived_from": sources,
        "paths": sorted(paths),
        "open_maps": sorted(open_maps),
        "lists": sorted(lists),
    }
    if chart is ChartId.SIGNOZ:
        facts["collector"] = collector_facts(main_values)
    if chart is ChartId.KIALI:
        # A list the program extends, so it restates the chart's entries (Helm replaces lists).
        facts["additional_display_details"] = main_values.get("additional_display_details", [])
    if chart is ChartId.K8S_INFRA:
        facts["agent"] = agent_facts(main_values)
    if chart is ChartId.PROMETHEUS:
        # Default scrape jobs and whether each is on: Kiali's metrics come from `kubernetes-pods`.
        facts["scrape_jobs"] = {job: bool(cfg.get("enabled")) for job, cfg in main_values["scrapeConfigs"].items()}
    return facts


def collector_facts(values: dict[str, Any]) -> dict[str, Any]:
    collector = values["otelCollector"]
    config = collector["config"]
    spread = collector.get("topologySpreadConstraints") or [{}]
    return {
        "image_tag": collector["image"]["tag"],
        # The image the chart runs (`<registry>/<repository>:<tag>`), which a trace router runs too.
        "image": f"{collector['image']['registry']}/{collector['image']['repository']}",
        # The label the chart itself selects collector pods by (its default topology spread).
        "pod_match_labels": spread[0].get("labelSelector", {}).get("matchLabels", {}),
        "pipelines": config["service"]["pipelines"],
        # Lists the program extends (Helm replaces lists), so it restates the chart's entries.
        "service_extensions": config["service"]["extensions"],
        "receivers": sorted(config["receivers"]),
        "processors": sorted(config["processors"]),
        "exporters": sorted(config["exporters"]),
        "connectors": sorted(config.get("connectors", {})),
    }


def agent_facts(values: dict[str, Any]) -> dict[str, Any]:
    """The k8s-infra agent's defaults the program relies on or replaces: its image (which
    otelcol-contrib build runs), pipelines, extensions, batch processor and port names."""
    agent = values["otelAgent"]
    config = agent["config"]
    return {
        "image_repository": agent["image"]["repository"],
        "image_tag": str(agent["image"]["tag"]),
        "pipelines": config["service"]["pipelines"],
        "service_extensions": config["service"]["extensions"],
        "batch": config["processors"]["batch"],
        "ports": sorted(agent["ports"]),
        "presets": sorted(values["presets"]),
    }


COMPONENT_PACKAGE = re.compile(r"\b([a-z0-9]+(?:receiver|processor|exporter|connector|extension))\b")


def collector_components(extra: Path, tag: str) -> dict[str, Any] | None:
    """Component packages compiled into SigNoz's collector build (its components/components.go)."""
    source = extra / "signoz-otel-collector" / tag / "components.go"
    if not source.is_file():
        return None
    packages = sorted(set(COMPONENT_PACKAGE.findall(source.read_text())))
    return {"image_tag": tag, "derived_from": f"signoz-otel-collector/{tag}/components.go", "packages": packages}


CONTRIB_KINDS = ("extensions", "exporters", "processors", "receivers", "connectors", "providers")


def contrib_components(extra: Path, version: str) -> dict[str, Any] | None:
    """Component packages of the otelcol-contrib distribution, by kind (its builder manifest)."""
    source = extra / "otelcol-contrib" / version / "manifest.yaml"
    if not source.is_file():
        return None
    manifest = yamlio.load(source.read_text())
    by_kind = {
        kind: sorted({str(entry["gomod"]).split()[0].rsplit("/", 1)[-1] for entry in manifest.get(kind) or []})
        for kind in CONTRIB_KINDS
    }
    return {
        "distribution": manifest["dist"]["name"],
        "version": str(manifest["dist"]["version"]),
        "derived_from": f"open-telemetry/opentelemetry-collector-releases v{version}: "
        "distributions/otelcol-contrib/manifest.yaml",
        **by_kind,
    }


def strip_descriptions(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: strip_descriptions(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [strip_descriptions(v) for v in node]
    return node


def crd_schema(text: str, where: str, group: str, version: str, kind: str) -> dict[str, Any]:
    for document in yaml.load_all(text, Loader=yamlio.SafeLoader):
        if not document or document.get("kind") != "CustomResourceDefinition":
            continue
        spec = document["spec"]
        if spec["group"] != group or spec["names"]["kind"] != kind:
            continue
        for served in spec["versions"]:
            if served["name"] == version and served.get("served", True):
                schema: dict[str, Any] = strip_descriptions(served["schema"]["openAPIV3Schema"])
                return {"scope": spec["scope"], "schema": schema}
    raise ToolError(f"{where}: no served {group}/{version} {kind}")


def crd_file(group: str, version: str, kind: str) -> str:
    return f"crd-{group}-{version}-{kind}"


def write(chart: ChartId, version: str, name: str, data: dict[str, Any]) -> None:
    path = version_dir(chart, version) / FACTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {path.relative_to(VERSIONS_DIR.parent)}")


MESH_CONFIG = "istio.mesh.v1alpha1.MeshConfig"


def go_module(path: str, version: str) -> Path:
    """The released source of a Go module version, from the module proxy (`go mod download`)."""
    command = ["go", "mod", "download", "-json", f"{path}@{version}"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    answer = json.loads(done.stdout or "{}")
    if done.returncode != 0 or "Dir" not in answer:
        raise ToolError(f"go mod download {path}@{version}: {answer.get('Error') or done.stderr.strip()}")
    return Path(answer["Dir"])


def meshconfig_facts(version: str) -> dict[str, Any]:
    api_version = str(release_data(ChartId.ISTIOD, version).get("api", f"v{version}"))
    root = go_module("istio.io/api", api_version)
    facts = proto_schema.schema(root, ["mesh/v1alpha1/config.proto"], MESH_CONFIG)
    return {"derived_from": f"istio.io/api {api_version}: mesh/v1alpha1/*.proto", **facts}


def derive(chart: ChartId, version: str, extra: Path | None, missing: list[str]) -> None:
    source = upstream_version(chart, version)
    located = locate(chart, version)
    files = ChartFiles(located.path, CHARTS[chart].name)
    facts = chart_facts(files, chart, version, located.version)
    write(chart, version, chart.value, facts)
    if chart in CHART_CRDS:
        relative, kinds = CHART_CRDS[chart]
        text = files.read(relative)
        if text is None:
            raise ToolError(f"{located.path}: no {relative}")
        for group, api_version, kind in kinds:
            data = crd_schema(text, f"{located.path}/{relative}", group, api_version, kind)
            data.update({"group": group, "version": api_version, "kind": kind, "upstream_version": source})
            write(chart, version, crd_file(group, api_version, kind), data)
    if chart in EXTRA_CRDS:
        pattern, kinds = EXTRA_CRDS[chart]
        crds = extra / pattern.format(version=source) if extra else None
        for group, api_version, kind in kinds:
            if crds is None or not crds.is_file():
                missing.append(f"{pattern.format(version=source)} (the {kind} CRD of {chart.value} {version})")
                continue
            data = crd_schema(crds.read_text(), str(crds), group, api_version, kind)
            data.update({"group": group, "version": api_version, "kind": kind, "upstream_version": source})
            write(chart, version, crd_file(group, api_version, kind), data)
    if chart is ChartId.ISTIOD:
        write(chart, version, "meshconfig", meshconfig_facts(version))
    # The component lists of the collector images the chart runs: (facts file, image tag, reader, source).
    builds = {
        ChartId.SIGNOZ: ("collector-components", facts.get("collector", {}).get("image_tag"), collector_components,
                         "signoz-otel-collector/{tag}/components.go"),
        ChartId.K8S_INFRA: ("agent-components", facts.get("agent", {}).get("image_tag"), contrib_components,
                            "otelcol-contrib/{tag}/manifest.yaml"),
    }  # fmt: skip
    if chart in builds:
        name, tag, reader, source_file = builds[chart]
        found = reader(extra, str(tag)) if extra else None
        if found is None:
            missing.append(source_file.format(tag=tag))
        else:
            write(chart, version, name, found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--extra", type=Path, default=None, help="sources that are not in a chart (see above)")
    args = parser.parse_args(argv)
    missing: list[str] = []
    try:
        for chart_id, chart in CHARTS.items():
            for version in chart.versions:
                derive(chart_id, version, args.extra, missing)
    except ToolError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if missing:
        print(f"kept as they were (source not given; see --extra): {', '.join(missing)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
