"""The data-path tests' rewrites (tests/support/collector_rewrites.py) do what their list says and
nothing else: undoing exactly the listed changes gives back the config as rendered."""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any

import pytest

from kube.tree import dig
from meshtools.collector_configs import rendered_configs
from tests.support.collector_rewrites import CLICKHOUSE_EXPORTERS, LOOPBACK, rewrite_for_test
from tests.test_rendered import rendered


def _config(stack: str) -> dict[str, Any]:
    [found] = rendered_configs(rendered(stack))
    return found.config


def _ports() -> Any:
    counter = itertools.count(20000)
    return lambda: next(counter)


def _without_rewritten_parts(config: dict[str, Any]) -> dict[str, Any]:
    """The config minus every place the rewrites may touch."""
    config = copy.deepcopy(config)
    config.pop("exporters", None)
    for pipeline in dig(config, "service", "pipelines").values():
        pipeline.pop("exporters", None)
    for processor in config.get("processors", {}).values():
        processor.pop("metrics_exporter", None)
    for section in ("receivers", "extensions"):
        stack = list(config.get(section, {}).values())
        while stack:
            node = stack.pop()
            node.pop("endpoint", None)
            node.pop("filename", None) if section == "extensions" else None
            stack.extend(v for v in node.values() if isinstance(v, dict))
    config["service"].pop("telemetry", None)
    return config


def test_the_signoz_collector_keeps_everything_but_storage_listeners_and_token(tmp_path: Path) -> None:
    rendered_config = _config("prod")
    result = rewrite_for_test(rendered_config, tmp_path, port_source=_ports())
    config = result.config
    assert _without_rewritten_parts(config) == _without_rewritten_parts(rendered_config)
    replaced = {name for name in rendered_config["exporters"] if name.split("/")[0] in CLICKHOUSE_EXPORTERS}
    assert replaced == {
        "clickhousetraces",
        "clickhouselogsexporter",
        "metadataexporter",
        "signozclickhousemeter",
        "signozclickhousemetrics",
    }
    for name in replaced:
        assert config["exporters"][f"file/{name}"] == {"path": str(tmp_path / f"{name}.json")}
        assert result.outputs[name] == tmp_path / f"{name}.json"
    others = {k: v for k, v in config["exporters"].items() if not k.startswith("file/")}
    assert others == {k: v for k, v in rendered_config["exporters"].items() if k not in replaced}
    for name, pipeline in config["service"]["pipelines"].items():
        before = rendered_config["service"]["pipelines"][name]["exporters"]
        assert pipeline["exporters"] == [f"file/{e}" if e in replaced else e for e in before]
    span_metrics = config["processors"]["signozspanmetrics/delta"]
    assert span_metrics["metrics_exporter"] == "file/signozclickhousemetrics"
    assert "file/signozclickhousemetrics" in config["service"]["pipelines"]["metrics"]["exporters"]
    # Listeners: loopback, each on its own port, and the collector's own metrics too.
    assert result.ports["receivers.zipkin"] == int(config["receivers"]["zipkin"]["endpoint"].split(":")[1])
    assert config["receivers"]["otlp/ingest"]["protocols"]["http"]["endpoint"].startswith(f"{LOOPBACK}:")
    assert config["extensions"]["health_check"]["endpoint"] == f"{LOOPBACK}:{result.ports['extensions.health_check']}"
    assert len(set(result.ports.values())) == len(result.ports) >= 10
    reader = config["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]
    assert reader == {"host": LOOPBACK, "port": result.ports["service.telemetry.metrics.readers.0"]}
    assert config["service"]["telemetry"]["logs"] == rendered_config["service"]["telemetry"]["logs"]
    # The ingest key file is the test's.
    assert config["extensions"]["bearertokenauth/ingest"] == {
        "filename": str(tmp_path / "bearertokenauth-ingest.token")
    }


def test_the_agent_keeps_its_pipeline_and_sends_to_the_stand_in(tmp_path: Path) -> None:
    rendered_config = _config("remote")
    result = rewrite_for_test(rendered_config, tmp_path, remote_endpoint="http://127.0.0.1:4999", port_source=_ports())
    config = result.config
    assert _without_rewritten_parts(config) == _without_rewritten_parts(rendered_config)
    [(name, exporter)] = config["exporters"].items()
    expected = copy.deepcopy(rendered_config["exporters"][name]) | {"endpoint": "http://127.0.0.1:4999"}
    assert exporter == expected, "the key header, queue and retries stay as rendered"
    assert result.outputs == {} and result.token_files == {}
    reader = config["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]
    rendered_reader = rendered_config["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]
    assert reader == rendered_reader | {"host": LOOPBACK, "port": result.ports["service.telemetry.metrics.readers.0"]}


def test_a_clickhouse_component_the_rewrites_do_not_know_is_an_error(tmp_path: Path) -> None:
    config = _config("dev")
    config["exporters"]["clickhousenew"] = {"dsn": "tcp://${env:CLICKHOUSE_HOST}:9000"}
    with pytest.raises(ValueError, match=r"still reads ClickHouse \(\$\{env:CLICKHOUSE_, tcp://\)"):
        rewrite_for_test(config, tmp_path, port_source=_ports())
