"""The built collectors against what the program renders: their release is the image's, they have
every component the rendered configs use, and their own decoding refuses a key the released
receiver does not have. (`make collectors-check` also validates every stack's configs with them.)
A collector that cannot be built fails these tests; nothing is skipped."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from meshtools import collectors
from meshtools.collector_configs import COLLECTORS, RenderedConfig, component_types, missing_components
from meshtools.stacks import PROJECT_DIR
from tests.conftest import TEST_STACK_NAMES, TEST_STACKS

# A deploy stack for the SigNoz collector, the remote stack for the agent.
STACK_OF = {"signoz": "dev", "agent": "remote"}


@functools.cache
def built(name: str) -> collectors.Built:
    return collectors.build(COLLECTORS[name])


@functools.cache
def configs(stack: str) -> tuple[RenderedConfig, ...]:
    return tuple(collectors.stack_configs(stack, TEST_STACKS))


def config_of(name: str) -> RenderedConfig:
    [rendered] = [c for c in configs(STACK_OF[name]) if c.collector.name == name]
    return rendered


@pytest.mark.parametrize("name", sorted(COLLECTORS))
def test_each_build_is_the_release_the_pinned_chart_runs(name: str) -> None:
    rendered = config_of(name)
    release = collectors.image_release(COLLECTORS[name])
    assert collectors.same_release(rendered.image_tag, release), (rendered.image, release)
    version = collectors.tool_version(COLLECTORS[name])
    assert collectors.same_release(built(name).version, version), "the binary reports the release it was built at"


@pytest.mark.parametrize("stack", TEST_STACK_NAMES)
def test_every_component_a_rendered_config_uses_is_built(stack: str) -> None:
    for rendered in configs(stack):
        used = component_types(rendered.config)
        assert missing_components(used, built(rendered.collector.name).components) == [], rendered.workload


def _plant_protocols(text: str) -> str:
    """The audit's form: the receiver's endpoint under `protocols.http`, which the released
    zipkinreceiver (config: confighttp.ServerConfig squashed + parse_string_tags) does not have."""
    config = yaml.safe_load(text)
    endpoint = config["receivers"]["zipkin"].pop("endpoint")
    config["receivers"]["zipkin"]["protocols"] = {"http": {"endpoint": endpoint}}
    return yaml.safe_dump(config)


@pytest.mark.parametrize("name", sorted(COLLECTORS))
def test_the_protocols_form_is_refused_with_the_collectors_own_message(name: str) -> None:
    rendered = config_of(name)
    assert collectors.validate_text(built(name), rendered.text, rendered.env).valid, "as rendered it is valid"
    verdict = collectors.validate_text(built(name), _plant_protocols(rendered.text), rendered.env)
    assert not verdict.valid
    assert 'error reading configuration for "zipkin"' in verdict.message
    assert verdict.message.endswith("has invalid keys: protocols"), verdict.message


def _command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "meshtools.collectors", *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("name", sorted(COLLECTORS))
def test_the_one_file_command(name: str, tmp_path: Path) -> None:
    rendered = config_of(name)
    # The one-file command resolves ${env:…} from the caller's environment; these configs would only
    # warn about unset variables, so the file alone decides.
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(rendered.text)
    bad.write_text(_plant_protocols(rendered.text))
    valid = _command("validate", "--collector", name, str(good))
    assert (valid.returncode, valid.stdout.strip()) == (
        0,
        f"{good}: valid for the {name} collector {built(name).version}",
    )
    invalid = _command("validate", "--collector", name, str(bad))
    assert invalid.returncode == 1, invalid.stderr
    assert invalid.stderr.strip().endswith("has invalid keys: protocols")
    assert f"{bad}: invalid for the {name} collector" in invalid.stderr
