"""SigNozStack in the whole program: the collector's pipeline is built from the chart's components, a
configured password reaches it and stays secret, resource attributes change only its release, and
bad attribute keys or a missing ingest key are refused.

Whole values are pinned by the golden files; SigNozStack's own behaviour is tested on the component
alone (tests/components/test_signoz_stack.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from config.problems import SettingsError
from kube.collector_config import CREDENTIAL_ATTRIBUTE_PATTERN
from meshtools.recording import Run, changed_resources, fake_secret
from tests.conftest import run_test_stack, stack_run
from tests.support import upstream
from versions.table import CHARTS, ChartId


def collector(run: Run) -> dict[str, Any]:
    result: dict[str, Any] = run.named("signoz-release").inputs["values"]["otelCollector"]
    return result


@pytest.mark.parametrize(
    ("key", "scrubbed"),
    [
        ("authorization", True),
        ("http.request.header.authorization", True),
        ("Cookie", True),
        ("http.response.header.set-cookie", True),
        ("x-api-key", True),
        ("db.password", True),
        ("http.url", False),
        ("http.status_code", False),
        ("gen_ai.usage.input_tokens", False),
        ("istio.canonical_service", False),
    ],
)
def test_credential_pattern(key: str, scrubbed: bool) -> None:
    # Python's re agrees with RE2 on this pattern (no look-around, no back-references).
    assert bool(re.fullmatch(CREDENTIAL_ATTRIBUTE_PATTERN, key)) is scrubbed


def test_every_pipeline_component_is_defined_and_built_in(deploy_test_stack: str) -> None:
    facts = upstream.chart(ChartId.SIGNOZ, CHARTS[ChartId.SIGNOZ].default_version)["collector"]
    config = collector(stack_run(deploy_test_stack))["config"]
    traces = config["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        defined = set(facts[kind]) | set(config.get(kind, {}))
        if kind == "exporters":
            defined |= set(facts["connectors"])
        assert set(traces[kind]) <= defined, (kind, set(traces[kind]) - defined)
    assert set(config["service"].get("extensions", [])) <= set(config.get("extensions", {})) | set(
        facts["service_extensions"]
    )
    packages = upstream.collector_packages(facts["image_tag"])
    for kind in ("receivers", "processors", "extensions"):
        for name in config.get(kind, {}):
            assert upstream.component_package(kind, name) in packages, name


def test_configured_password_is_used_and_stays_secret(edge: Run) -> None:
    configured = fake_secret("mesh-tracing:clickhousePassword")
    assert edge.maybe("signoz-clickhouse-password") is None
    assert edge.named("signoz-release").inputs["values"]["clickhouse"]["password"] == configured
    _assert_only_secret(edge, configured)


def _assert_only_secret(run: Run, password: str) -> None:
    for resource in run:
        for key, value in resource.inputs.items():
            if key not in resource.secret_inputs:
                assert password not in repr(value), f"{resource.name}.{key} carries the password in plain text"
    assert password not in repr(run.outputs)


def test_changing_resource_attributes_changes_only_this_release(dev: Run) -> None:
    changed = changed_resources(dev, run_test_stack("dev", {"resourceAttributes": {"team": "payments"}}, previous=dev))
    assert changed == {"signoz-release": "changed"}


def test_bad_attribute_keys_are_config_errors() -> None:
    with pytest.raises(SettingsError) as caught:
        run_test_stack("dev", {"resourceAttributes": {"has space": "x", "ok": ""}})
    assert [str(p) for p in caught.value.problems] == [
        "mesh-tracing:resourceAttributes[\"has space\"]: got 'has space' — must be an attribute key: a letter or '_' "
        "first, then letters, digits, '_', '.', '-' or '/'",
        "mesh-tracing:resourceAttributes[\"ok\"]: got '' — String should have at least 1 character",
    ]


# --------------------------------------------------------------------------- the central side: signoz.ingest


def test_ingest_needs_the_key() -> None:
    with pytest.raises(SettingsError) as caught:
        run_test_stack("prod", remove=("signozIngestKey",))
    assert [str(p) for p in caught.value.problems] == [
        "mesh-tracing:signozIngestKey: got <missing> — required: signoz.ingest checks it on every request "
        "(`pulumi config set --secret --stack prod mesh-tracing:signozIngestKey <key>`)"
    ]
