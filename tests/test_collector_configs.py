"""What the real collectors are given: each rendered collector container's config file and the
environment its pod gets; the build a container's image is held to; and how `meshtools.collectors`
reports what it cannot judge. (Running the collectors is the real tier's: tests/real/.)"""

from __future__ import annotations

import base64
import functools
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshtools import collectors
from meshtools.cli import EXIT_ERROR, ToolError, run_command
from meshtools.collector_configs import (
    COLLECTORS,
    SECRET_STAND_IN,
    Objects,
    RenderedConfig,
    component_types,
    config_flag,
    container_env,
    image_reference,
    missing_components,
    rendered_configs,
)
from meshtools.desired import MASK
from meshtools.manifests import Manifest
from tests.conftest import REMOTE_STACK_NAMES, TEST_STACK_NAMES, stack_settings
from tests.test_rendered import rendered
from tools import toolchain

TOOLS = Path(toolchain.__file__).resolve().parent


@functools.cache
def configs(stack: str) -> tuple[RenderedConfig, ...]:
    return tuple(rendered_configs(rendered(stack)))


def test_image_references() -> None:
    assert image_reference("docker.io/signoz/signoz-otel-collector:v0.144.5") == (
        "signoz/signoz-otel-collector",
        "v0.144.5",
    )
    assert image_reference("otel/opentelemetry-collector-contrib:0.139.0") == (
        "otel/opentelemetry-collector-contrib",
        "0.139.0",
    )
    assert image_reference("localhost:5000/busybox") == ("library/busybox", "latest")
    assert image_reference("ghcr.io/a/b@sha256:abc") == ("a/b", "sha256:abc")


def test_the_config_flag_in_either_form() -> None:
    assert config_flag({"args": ["--config=/conf/a.yaml", "--manager-config=/conf/b.yaml"]}) == "/conf/a.yaml"
    assert config_flag({"command": ["/otelcol", "--config", "/conf/c.yaml"]}) == "/conf/c.yaml"
    assert config_flag({"args": ["--config.file=/etc/prometheus.yml"]}) is None


def _secret(name: str, data: dict[str, str]) -> Manifest:
    encoded = {k: v if v == MASK else base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return Manifest("test", {"kind": "Secret", "metadata": {"namespace": "ns", "name": name}, "data": encoded})


def test_the_environment_is_resolved_as_kubernetes_does() -> None:
    objects = Objects(
        [
            _secret("key", {"token": "s3cr3t", "masked": MASK}),
            Manifest("test", {"kind": "ConfigMap", "metadata": {"namespace": "ns", "name": "cm"}, "data": {"A": "1"}}),
        ]
    )
    container: dict[str, Any] = {
        "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
        "env": [
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "key", "key": "token"}}},
            {"name": "MASKED", "valueFrom": {"secretKeyRef": {"name": "key", "key": "masked"}}},
            {"name": "ELSEWHERE", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}},
            {"name": "PLAIN_MASKED", "value": MASK},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "ATTRS", "value": "node=$(NODE),ns=$(NS),later=$(LATER),cost=$$(NODE)"},
            {"name": "LATER", "value": "x"},
            {"name": "EMPTY", "value": None},
        ],
    }
    env = container_env(objects, "ns", "agent", container)
    assert env == {
        "CM_A": "1",
        "TOKEN": "s3cr3t",
        "MASKED": SECRET_STAND_IN,
        "ELSEWHERE": SECRET_STAND_IN,
        "PLAIN_MASKED": SECRET_STAND_IN,
        "NODE": "node-1",
        "POD": "agent-0",
        "NS": "ns",
        # Only variables defined earlier expand; `$$` is a literal `$`.
        "ATTRS": "node=node-1,ns=ns,later=$(LATER),cost=$(NODE)",
        "LATER": "x",
        "EMPTY": "",
    }


@pytest.mark.parametrize("stack", TEST_STACK_NAMES)
def test_each_stack_renders_one_collector_config_for_its_mode(stack: str) -> None:
    settings = stack_settings(stack)
    found, *router = configs(stack)
    if settings.tail_sampling.enabled:
        # The trace router, a second config for the SigNoz collector's build; it receives Zipkin.
        [router_config] = router
        assert (router_config.collector.name, router_config.workload) == (
            "signoz",
            "Deployment signoz/signoz-trace-router",
        )
        assert router_config.path == "/conf/config.yaml"
        assert "zipkin" in router_config.config["service"]["pipelines"]["traces"]["receivers"]
        assert "tail_sampling" in found.config["service"]["pipelines"]["traces"]["processors"]
        return
    assert router == []
    if stack in REMOTE_STACK_NAMES:
        assert (found.collector.name, found.workload) == ("agent", "DaemonSet signoz/k8s-infra-otel-agent")
        assert found.path == "/conf/otel-agent-config.yaml"
        # The key comes from the program's Secret through the chart's secretKeyRef (masked here).
        assert found.env["SIGNOZ_API_KEY"] == SECRET_STAND_IN
        assert found.env["K8S_CLUSTER_NAME"] == settings.cluster
    else:
        namespace = settings.signoz.namespace
        assert (found.collector.name, found.workload) == ("signoz", f"Deployment {namespace}/signoz-otel-collector")
        assert found.path == "/conf/otel-collector-config.yaml"
        assert found.env["CLICKHOUSE_TRACE_DATABASE"] == "signoz_traces"
        assert found.env["K8S_NAMESPACE"] == namespace
    # The file the collector reads is the ConfigMap data as rendered, not the program's overlay.
    assert "zipkin" in found.config["service"]["pipelines"]["traces"]["receivers"]
    # Only `${env:…}`: the image's SigNoz collector sets no default scheme, so a bare `${VAR}` would
    # stay as written there, while the wrapper's otelcol command would resolve it.
    assert re.findall(r"\$\{(?![a-z]+:)[^}]*\}", found.text) == []
    assert "${env:" in found.text


def test_a_collector_image_without_a_build_is_an_error() -> None:
    objects = [
        Manifest(m.origin, _with_image(m.object, "otel/opentelemetry-collector-k8s:0.140.0"))
        if m.key[1] == "DaemonSet"
        else m
        for m in rendered("remote")
    ]
    with pytest.raises(ToolError, match=r"DaemonSet signoz/k8s-infra-otel-agent runs the collector image .*k8s:0"):
        rendered_configs(objects)


def _with_image(obj: dict[str, Any], image: str) -> dict[str, Any]:
    changed: dict[str, Any] = json.loads(json.dumps(obj))
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return changed


# --------------------------------------------------------------------------- the builds' pins


def _tool(name: str) -> toolchain.Tool:
    return toolchain.load_tool(COLLECTORS[name].tool)


@pytest.mark.parametrize("stack", TEST_STACK_NAMES)
def test_each_rendered_image_is_the_release_its_build_pins(stack: str) -> None:
    """A chart bump that changes a collector image fails here until tools/collectors/ is bumped."""
    for found in configs(stack):
        assert collectors.same_release(found.image_tag, collectors.image_release(found.collector)), found.image


def _requirements(name: str) -> dict[str, str]:
    text = (_tool(name).folder / "go.mod").read_text()
    return dict(re.findall(r"^\s*(?:require\s+)?(\S+) (v\S+)(?: // indirect)?$", text, re.M))


@pytest.mark.parametrize("name", sorted(COLLECTORS))
def test_each_build_stamps_and_requires_its_release(name: str) -> None:
    tool = _tool(name)
    [binary] = tool.binaries
    assert any(flag.startswith("main.Version=") and collectors.same_release(flag.split("=")[1], tool.version)
               for flag in binary.ldflags), binary.ldflags  # fmt: skip
    required = _requirements(name)
    if name == "signoz":
        assert required["github.com/SigNoz/signoz-otel-collector"] == tool.version
    else:
        contrib = {m: v for m, v in required.items() if "opentelemetry-collector-contrib" in m}
        core = {m: v for m, v in required.items() if m.startswith("go.opentelemetry.io/collector/")}
        assert contrib and set(contrib.values()) == {tool.version}
        # Core modules: the release's own (v0.x) and the stable ones released with it (one v1.x).
        assert required["go.opentelemetry.io/collector/otelcol"] == tool.version
        assert len(set(core.values()) - {tool.version}) == 1


# --------------------------------------------------------------------------- judging and reporting


def _built(components: dict[str, set[str]]) -> collectors.Built:
    return collectors.Built(COLLECTORS["agent"], Path("/nonexistent"), "0.139.0", components)


def test_a_release_mismatch_or_a_missing_component_fails_before_validating() -> None:
    [agent] = configs("remote")
    used = component_types(agent.config)
    assert used["receivers"] == {"otlp", "zipkin"}
    assert collectors.judge(agent, _built(used), "v0.140.0") == [
        "it runs docker.io/otel/opentelemetry-collector-contrib:0.139.0, but collectors/agent builds v0.140.0: "
        "build the collector of that release (docs/collectors.md, bumping a collector)"
    ]
    lacking = {**used, "receivers": {"otlp"}, "processors": used["processors"] - {"attributes"}}
    assert missing_components(used, lacking) == ["receiver zipkin", "processor attributes"]
    assert collectors.judge(agent, _built(lacking), "v0.139.0") == [
        "it uses receiver zipkin, processor attributes, which collectors/agent does not build: add the "
        "factories to the build (docs/collectors.md)"
    ]
    error = ToolError("the agent collector (collectors/agent) cannot be built: go: 403")
    assert collectors.judge(agent, error, "v0.139.0") == [
        "not validated: collectors/agent cannot be built (its error is printed first)"
    ]


def test_the_collectors_message_is_printed_once() -> None:
    output = (
        "Error: failed to get config: cannot unmarshal the configuration: decoding failed:\n\n"
        "'' has invalid keys: protocols\n"
        "2026/01/02 15:04:05 failed to get config: cannot unmarshal the configuration: decoding failed:\n\n"
        "'' has invalid keys: protocols\n"
    )
    assert collectors.collector_message(output) == (
        "failed to get config: cannot unmarshal the configuration: decoding failed:\n\n'' has invalid keys: protocols"
    )


def test_the_one_file_command_cannot_run_without_a_file_or_a_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.yaml"
    assert run_command(collectors.main, ["validate", "--collector", "agent", str(missing)]) == EXIT_ERROR
    assert f"error: {missing} is not a file" in capsys.readouterr().err

    def refused(name: str, tools_dir: Path = TOOLS) -> toolchain.Tool:
        raise toolchain.BuildError("`go mod download` failed: 403 Forbidden")

    monkeypatch.setattr(toolchain, "load_tool", refused)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"receivers": {}}))
    assert run_command(collectors.main, ["validate", "--collector", "signoz", str(config)]) == EXIT_ERROR
    assert capsys.readouterr().err.strip() == (
        "error: the signoz collector (collectors/signoz) cannot be built: `go mod download` failed: 403 Forbidden"
    )


@pytest.mark.parametrize("name", sorted(COLLECTORS))
def test_a_build_of_another_release_names_the_one_it_stands_for_and_why(name: str) -> None:
    """Never a build under another release's label: a substitute keeps its own version and says so."""
    collector = COLLECTORS[name]
    substitute = collectors.stands_for(collector)
    if substitute is None:
        assert collectors.image_release(collector) == _tool(name).version
        return
    assert substitute.version != _tool(name).version
    assert collectors.image_release(collector) == substitute.version
    assert "refuses" in substitute.reason and substitute.version in substitute.reason
