"""Derive compact conformance facts from upstream chart values and CRDs for the pinned versions.

Writes, under tests/facts/ (committed; the tests read only these):
  charts/<chart>-<version>.json   every value path the chart's default values define, which of them
                                  are open maps (empty `{}` defaults users fill freely) and lists;
                                  for signoz also the collector's default pipelines
  crds/<group>-<version>-<kind>-<upstream version>.json
                                  the openAPIV3Schema of each custom resource the program emits,
                                  with descriptions stripped
  collector/signoz-otel-collector-<tag>.json
                                  the component packages compiled into the collector image the
                                  signoz chart runs
  collector/otelcol-contrib-<version>.json
                                  the component packages (by kind) and config providers of the
                                  otelcol-contrib distribution the k8s-infra chart's agent runs
Nothing upstream is copied verbatim: comments and descriptions are dropped and only the default
values the program must restate (the collector's pipelines) are kept.

Usage: python scripts/derive_facts.py [--upstream ../shared/upstream] [--extra DIR]
`--extra` is a folder laid out like upstream/ holding sources that are not in shared/: the
prometheus chart's values (prometheus/<version>/values.yaml, from prometheus-community/helm-charts
at tag prometheus-<version>), the collector's component list
(signoz-otel-collector/<tag>/components.go, from SigNoz/signoz-otel-collector at that tag) and the
otelcol-contrib build manifest (otelcol-contrib/<version>/manifest.yaml, from
open-telemetry/opentelemetry-collector-releases tag v<version>,
distributions/otelcol-contrib/manifest.yaml).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
FACTS = ROOT / "tests" / "facts"
INTERNAL_DEFAULTS = "_internal_defaults_do_not_set"

# chart id, upstream version → [(path prefix inside the parent chart's values, values file)]
CHART_SOURCES: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("istio-base", "1.30.3"): [("", "istio/1.30.3/values-base.yaml")],
    ("istiod", "1.30.3"): [("", "istio/1.30.3/values-istiod.yaml")],
    ("istio-gateway", "1.30.3"): [("", "istio/1.30.3/values-gateway.yaml")],
    ("signoz", "0.131.0"): [
        ("", "signoz/0.131.0/values.yaml"),
        ("clickhouse", "signoz/0.131.0/subcharts/clickhouse-24.1.18/values.yaml"),
        ("clickhouse.zookeeper", "signoz/0.131.0/subcharts/zookeeper-0.0.1/values.yaml"),
    ],
    ("kiali-server", "2.29.0"): [("", "kiali/2.29.0/values-kiali-server.yaml")],
    ("prometheus", "29.27.0"): [("", "prometheus/29.27.0/values.yaml")],
    ("k8s-infra", "0.16.0"): [("", "charts/k8s-infra/0.16.0/k8s-infra/values.yaml")],
}

# (file, group, version, kind, upstream version) of every custom resource the program emits.
CRD_SOURCES: list[tuple[str, str, str, str, str]] = [
    ("istio/1.30.3/crds.yaml", "telemetry.istio.io", "v1", "Telemetry", "1.30.3"),
    ("istio/1.30.3/crds.yaml", "security.istio.io", "v1", "PeerAuthentication", "1.30.3"),
    ("kiali/2.29.0/kiali-operator-crds.yaml", "kiali.io", "v1alpha1", "Kiali", "2.29.0"),
]


def walk(node: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """Every (dotted path, value) below `node`; lists are leaves (Helm replaces them whole)."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path, value
            yield from walk(value, path)


def chart_facts(upstream: Path, extra: Path | None, chart: str, version: str) -> dict[str, Any] | None:
    paths: set[str] = set()
    open_maps: set[str] = set()
    lists: set[str] = set()
    sources = []
    for prefix, relative in CHART_SOURCES[(chart, version)]:
        source = source_of(upstream, extra, relative)
        if not source.exists():
            return None
        sources.append(relative)
        values = yaml.safe_load(source.read_text()) or {}
        if set(values) == {INTERNAL_DEFAULTS}:
            values = values[INTERNAL_DEFAULTS]  # Istio charts: users set these keys at top level
        if prefix:
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
        "chart": chart,
        "version": version,
        "derived_from": sources,
        "paths": sorted(paths),
        "open_maps": sorted(open_maps),
        "lists": sorted(lists),
    }
    main_values = yaml.safe_load(source_of(upstream, extra, CHART_SOURCES[(chart, version)][0][1]).read_text())
    if chart == "signoz":
        facts["collector"] = collector_facts(upstream / CHART_SOURCES[(chart, version)][0][1])
    if chart == "kiali-server":
        # A list the program extends, so it restates the chart's entries (Helm replaces lists).
        facts["additional_display_details"] = main_values.get("additional_display_details", [])
    if chart == "k8s-infra":
        facts["agent"] = agent_facts(main_values)
    if chart == "prometheus":
        # Default scrape jobs and whether each is on: Kiali's metrics come from `kubernetes-pods`.
        facts["scrape_jobs"] = {job: bool(cfg.get("enabled")) for job, cfg in main_values["scrapeConfigs"].items()}
    return facts


def source_of(upstream: Path, extra: Path | None, relative: str) -> Path:
    source = upstream / relative
    return source if source.exists() or extra is None else extra / relative


def collector_facts(values_file: Path) -> dict[str, Any]:
    collector = yaml.safe_load(values_file.read_text())["otelCollector"]
    config = collector["config"]
    spread = collector.get("topologySpreadConstraints") or [{}]
    return {
        # The label the chart itself selects collector pods by (its default topology spread).
        "image_tag": collector["image"]["tag"],
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


def collector_components(extra: Path | None, tag: str) -> dict[str, Any] | None:
    """Component packages compiled into SigNoz's collector build (its components/components.go)."""
    source = extra / "signoz-otel-collector" / tag / "components.go" if extra else None
    if source is None or not source.exists():
        return None
    packages = sorted(set(COMPONENT_PACKAGE.findall(source.read_text())))
    return {"image_tag": tag, "derived_from": f"signoz-otel-collector/{tag}/components.go", "packages": packages}


CONTRIB_KINDS = ("extensions", "exporters", "processors", "receivers", "connectors", "providers")


def contrib_components(extra: Path | None, version: str) -> dict[str, Any] | None:
    """Component packages of the otelcol-contrib distribution, by kind (its builder manifest)."""
    relative = f"otelcol-contrib/{version}/manifest.yaml"
    source = extra / relative if extra else None
    if source is None or not source.exists():
        return None
    manifest = yaml.safe_load(source.read_text())
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


def crd_schema(upstream: Path, relative: str, group: str, version: str, kind: str) -> dict[str, Any]:
    for document in yaml.safe_load_all((upstream / relative).read_text()):
        if not document or document.get("kind") != "CustomResourceDefinition":
            continue
        spec = document["spec"]
        if spec["group"] != group or spec["names"]["kind"] != kind:
            continue
        for served in spec["versions"]:
            if served["name"] == version and served.get("served", True):
                schema: dict[str, Any] = strip_descriptions(served["schema"]["openAPIV3Schema"])
                return {"scope": spec["scope"], "schema": schema}
    raise SystemExit(f"{relative}: no served {group}/{version} {kind}")


def write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", type=Path, default=ROOT.parent / "shared" / "upstream")
    parser.add_argument("--extra", type=Path, default=None)
    args = parser.parse_args()
    missing = []
    for chart, version in CHART_SOURCES:
        facts = chart_facts(args.upstream, args.extra, chart, version)
        if facts is None:
            missing.append(f"{chart} {version}")
            continue
        write(FACTS / "charts" / f"{chart}-{version}.json", facts)
        if chart == "signoz":
            tag = facts["collector"]["image_tag"]
            components = collector_components(args.extra, tag)
            if components is None:
                missing.append(f"signoz-otel-collector {tag} components.go")
            else:
                write(FACTS / "collector" / f"signoz-otel-collector-{tag}.json", components)
        if chart == "k8s-infra":
            tag = facts["agent"]["image_tag"]
            contrib = contrib_components(args.extra, tag)
            if contrib is None:
                missing.append(f"otelcol-contrib {tag} manifest.yaml")
            else:
                write(FACTS / "collector" / f"otelcol-contrib-{tag}.json", contrib)
    for relative, group, version, kind, upstream_version in CRD_SOURCES:
        data = crd_schema(args.upstream, relative, group, version, kind)
        data.update({"group": group, "version": version, "kind": kind, "upstream_version": upstream_version})
        write(FACTS / "crds" / f"{group}-{version}-{kind}-{upstream_version}.json", data)
    if missing:
        print(f"skipped (source not found; see --extra): {', '.join(missing)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
