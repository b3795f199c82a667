"""The one set of rewrites that lets a rendered collector config run in a test, and nothing more.

The data-path tests (tests/real/test_collector_data_path.py) run the built collectors with the
config the program renders. Only what a test on loopback cannot have is changed:

1. Every ClickHouse-backed exporter (CLICKHOUSE_EXPORTERS: the traces, logs, metrics and meter
   exporters and the metadata exporter) becomes a file exporter `file/<its name>` writing OTLP JSON
   lines into the test's folder; the pipelines and the span-metrics processor's `metrics_exporter`
   follow the rename. A config that still reads ClickHouse's address afterwards (CLICKHOUSE_ADDRESS)
   is an error: a component these rewrites do not know.
2. Every listening `endpoint` of a receiver or an extension, and the collector's own metrics reader
   (default localhost:8888), move to free loopback ports: tests run in parallel.
3. The bearer-token extension's `filename` (the ingest key) points into the test's folder.
4. Given `remote_endpoint`, each OTLP/HTTP exporter sends there instead (the stand-in central ingest,
   plain HTTP on loopback).

`tests/test_collector_rewrites.py` holds each rule to this list: anything else in the config is
left exactly as rendered.
"""

from __future__ import annotations

import copy
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kube.tree import dig

CLICKHOUSE_EXPORTERS = frozenset(
    {
        "clickhousetraces",
        "clickhouselogsexporter",
        "signozclickhousemetrics",
        "signozclickhousemeter",
        "metadataexporter",
    }
)
# How a rendered component reaches ClickHouse: the chart's env vars, or a native-protocol DSN.
CLICKHOUSE_ADDRESS = ("${env:CLICKHOUSE_", "tcp://")
TOKEN_EXTENSION = "bearertokenauth"
OTLP_HTTP_EXPORTER = "otlphttp"
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A port nothing listens on now (the kernel's pick; the collector binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _ports_from(source: Callable[[], int]) -> Iterator[int]:
    while True:
        yield source()


@dataclass
class Rewritten:
    """The rewritten config, where each listener now is (by its path in the config), where each
    file exporter writes (by the exporter it replaces), and the token file."""

    config: dict[str, Any]
    ports: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)
    token_files: dict[str, Path] = field(default_factory=dict)

    def text(self) -> str:
        return yaml.safe_dump(self.config, sort_keys=False)


def _component_type(name: str) -> str:
    return name.split("/", 1)[0]


def _listeners(node: Any, path: str, ports: Iterator[int], found: dict[str, int]) -> None:
    """Every `endpoint: host:port` under `node` moves to a free loopback port."""
    if isinstance(node, dict):
        endpoint = node.get("endpoint")
        if isinstance(endpoint, str) and "://" not in endpoint and endpoint.rpartition(":")[2].isdigit():
            port = next(ports)
            node["endpoint"] = f"{LOOPBACK}:{port}"
            found[path] = port
        for key, child in node.items():
            if isinstance(child, dict):
                _listeners(child, f"{path}.{key}", ports, found)


def rewrite_for_test(
    config: dict[str, Any],
    folder: Path,
    *,
    remote_endpoint: str | None = None,
    port_source: Callable[[], int] = free_port,
) -> Rewritten:
    """`config` (as rendered) with the four rewrites of this module's docstring applied."""
    result = Rewritten(copy.deepcopy(config))
    config = result.config
    ports = _ports_from(port_source)

    # 1. ClickHouse-backed exporters → file exporters.
    renamed: dict[str, str] = {}
    exporters: dict[str, Any] = config.get("exporters") or {}
    for name in list(exporters):
        if _component_type(name) in CLICKHOUSE_EXPORTERS:
            new = f"file/{name.replace('/', '-')}"
            result.outputs[name] = folder / f"{name.replace('/', '-')}.json"
            del exporters[name]
            exporters[new] = {"path": str(result.outputs[name])}
            renamed[name] = new
    for pipeline in (dig(config, "service", "pipelines") or {}).values():
        pipeline["exporters"] = [renamed.get(e, e) for e in pipeline.get("exporters") or []]
    for processor in (config.get("processors") or {}).values():
        if isinstance(processor, dict) and isinstance(processor.get("metrics_exporter"), str):
            names = processor["metrics_exporter"].split(",")
            processor["metrics_exporter"] = ",".join(renamed.get(n.strip(), n.strip()) for n in names)
    left = [m for m in CLICKHOUSE_ADDRESS if m in yaml.safe_dump(config)]
    if left:
        raise ValueError(f"the config still reads ClickHouse ({', '.join(left)}): a component the rewrites do not know")

    # 2. Listeners on free loopback ports.
    for section in ("receivers", "extensions"):
        for name, component in (config.get(section) or {}).items():
            _listeners(component, f"{section}.{name}", ports, result.ports)
    metrics = config.setdefault("service", {}).setdefault("telemetry", {}).setdefault("metrics", {})
    readers = metrics.get("readers") or [{"pull": {"exporter": {"prometheus": {}}}}]
    for index, reader in enumerate(readers):
        prometheus = dig(reader, "pull", "exporter", "prometheus")
        if isinstance(prometheus, dict):
            prometheus["host"] = LOOPBACK
            prometheus["port"] = result.ports.setdefault(f"service.telemetry.metrics.readers.{index}", next(ports))
    metrics["readers"] = readers

    # 3. The token file into the test's folder.
    for name, extension in (config.get("extensions") or {}).items():
        if _component_type(name) == TOKEN_EXTENSION and isinstance(extension, dict) and "filename" in extension:
            result.token_files[name] = folder / f"{name.replace('/', '-')}.token"
            extension["filename"] = str(result.token_files[name])

    # 4. OTLP/HTTP exporters to the stand-in central ingest.
    if remote_endpoint is not None:
        for name, exporter in exporters.items():
            if _component_type(name) == OTLP_HTTP_EXPORTER and isinstance(exporter, dict):
                exporter["endpoint"] = remote_endpoint
    return result
