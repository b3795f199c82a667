"""Envoy-shaped spans through the built collectors, with the configs the program renders.

Each collector runs the rendered config changed only by tests/support/collector_rewrites.py (its
ClickHouse exporters write files, it listens on free loopback ports, its token file is the test's),
with the container's environment. Spans go in as an Istio sidecar's Envoy POSTs them; what the
collector would store is read back from the file that stands in for ClickHouse, and held to the
stack: its resource attributes, its credential scrub, and the service names and span kinds SigNoz
shows (its traces exporter stores resource `service.name` and pdata's `SpanKind.String()`,
signoz-otel-collector exporter/clickhousetracesexporter/clickhouse_exporter_v3.go, read at v0.144.6).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from kube.collector_config import INGEST_RECEIVER
from meshtools import collectors
from meshtools.collector_configs import COLLECTORS, RenderedConfig
from tests.conftest import TEST_STACKS, stack_settings
from tests.support import envoy_spans
from tests.support.collector_process import (
    ExportedSpan,
    RunningCollector,
    exported_spans,
    post,
    running,
    wait_for,
)
from tests.support.collector_rewrites import Rewritten, rewrite_for_test
from tests.support.modes import deployed

TRACES_EXPORTER = "clickhousetraces"
# pdata's ptrace.SpanKind.String() for OTLP's span kind numbers: what SigNoz stores as span_kind.
SIGNOZ_SPAN_KIND = {1: "Internal", 2: "Server", 3: "Client", 4: "Producer", 5: "Consumer"}
INGEST_KEY = "test-ingest-key-0123456789abcdef"


@functools.cache
def built(name: str) -> collectors.Built:
    return collectors.build(COLLECTORS[name])


def rendered(stack: str, name: str) -> RenderedConfig:
    [config] = [c for c in collectors.stack_configs(stack, TEST_STACKS) if c.collector.name == name]
    return config


def custom_tags(stack: str) -> dict[str, str]:
    """The mesh-wide Istio custom tags of a stack as the spans carry them (literals as set; an
    environment or header tag as the value it would read)."""
    settings = stack_settings(stack)
    tags = {"environment": settings.environment, "cluster": settings.cluster}
    for name, tag in settings.istio.custom_tags.items():
        tags[name] = tag.literal.value if tag.literal is not None else f"{name}-value"
    return tags


def kind(span: ExportedSpan) -> str:
    return SIGNOZ_SPAN_KIND[int(span.span.get("kind", 0))]


def send_hop(port: int, stack: str, client: str, server: str, extra: Mapping[str, str]) -> envoy_spans.Hop:
    hop = envoy_spans.new_hop(client, server)
    spans = envoy_spans.hop_spans(hop, custom_tags(stack) | dict(extra), start_us=int(time.time() * 1e6))
    status = post(
        f"http://127.0.0.1:{port}/api/v2/spans", envoy_spans.body(spans), {"Content-Type": "application/json"}
    )
    assert status == 202, f"the zipkin receiver answered {status}"
    return hop


def of_trace(path: Path, trace_id: str) -> list[ExportedSpan]:
    # OTLP JSON (protojson) writes ids as hex strings.
    return [s for s in exported_spans(path) if str(s.span.get("traceId")).lower() == trace_id]


def expected_resource(stack: str) -> dict[str, Any]:
    settings = stack_settings(stack)
    return {
        "deployment.environment": settings.environment,
        "k8s.cluster.name": settings.cluster,
        **settings.resource_attributes,
    }


def assert_tagged_as(stack: str, spans: list[ExportedSpan], hop: envoy_spans.Hop, *, scrubbed: bool) -> None:
    by_kind = {kind(s): s for s in spans}
    assert sorted(by_kind) == ["Client", "Server"]
    assert by_kind["Client"].resource["service.name"] == hop.client_service
    assert by_kind["Server"].resource["service.name"] == hop.server_service
    for span in spans:
        assert expected_resource(stack).items() <= span.resource.items(), span.resource
        attributes = span.attributes
        assert {k: attributes.get(k) for k in custom_tags(stack)} == custom_tags(stack)
        assert attributes["http.method"] == "GET" and attributes["guid:x-request-id"]
        assert envoy_spans.NEAR_MISS_TAGS.items() <= attributes.items()
        credentials = {k: attributes.get(k) for k in envoy_spans.CREDENTIAL_TAGS}
        if scrubbed:
            assert credentials == dict.fromkeys(envoy_spans.CREDENTIAL_TAGS), "credentials reached storage"
        else:
            assert credentials == envoy_spans.CREDENTIAL_TAGS, "scrubCredentialAttributes is off for this stack"


def start(
    name: str, collector: str, rewritten: Rewritten, env: Mapping[str, str], folder: Path
) -> AbstractContextManager[RunningCollector]:
    """The built collector running the rewritten config with `env`, up once its health check is."""
    health = rewritten.ports["extensions.health_check"]
    binary = built(collector).binary
    return running(name, binary, rewritten.text(), env=env, folder=folder, health_port=health)


def signoz_run(stack: str, folder: Path) -> tuple[RenderedConfig, Rewritten]:
    config = rendered(stack, "signoz")
    return config, rewrite_for_test(config.config, folder)


def test_deploy_mode_stores_envoy_spans_tagged_and_scrubbed(tmp_path: Path) -> None:
    stack = "prod"
    config, rewritten = signoz_run(stack, tmp_path)
    for token in rewritten.token_files.values():
        token.write_text(INGEST_KEY)
    with start("signoz", "signoz", rewritten, config.env, tmp_path) as collector:
        extra = envoy_spans.CREDENTIAL_TAGS | envoy_spans.NEAR_MISS_TAGS
        hop = send_hop(rewritten.ports["receivers.zipkin"], stack, "productpage.bookinfo", "reviews.bookinfo", extra)
        out = rewritten.outputs[TRACES_EXPORTER]
        spans = wait_for(lambda: of_trace(out, hop.trace_id), lambda s: len(s) >= 2, "the hop's spans", collector)
    assert_tagged_as(stack, spans, hop, scrubbed=True)


def test_a_stack_without_the_scrub_stores_credentials_as_sent(tmp_path: Path) -> None:
    stack = "edge"
    assert not stack_settings(stack).signoz.collector.scrub_credential_attributes
    config, rewritten = signoz_run(stack, tmp_path)
    with start("signoz", "signoz", rewritten, config.env, tmp_path) as collector:
        extra = envoy_spans.CREDENTIAL_TAGS | envoy_spans.NEAR_MISS_TAGS
        hop = send_hop(rewritten.ports["receivers.zipkin"], stack, "frontend.payments", "ledger.payments", extra)
        out = rewritten.outputs[TRACES_EXPORTER]
        spans = wait_for(lambda: of_trace(out, hop.trace_id), lambda s: len(s) >= 2, "the hop's spans", collector)
    assert_tagged_as(stack, spans, hop, scrubbed=False)


def _otlp_request(service: str) -> bytes:
    """A minimal OTLP/JSON traces request, as a client that is not our agent would send it."""
    span = {"traceId": "0" * 31 + "1", "spanId": "0" * 15 + "1", "name": "probe", "kind": 2}
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    return json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [span]}]}]}).encode()


def test_remote_mode_agent_delivers_to_the_central_ingest_with_its_key(tmp_path: Path) -> None:
    """The remote stack's agent, sending to the prod stack's SigNoz collector (signoz.ingest) as the
    central ingest: the spans arrive with the remote cluster's tags, not the central one's, scrubbed;
    a wrong key or none is refused, and an agent holding a wrong key delivers nothing."""
    remote, central = "remote", "prod"
    assert deployed(stack_settings(central)).ingest is not None
    central_folder, agent_folder, wrong_folder = tmp_path / "central", tmp_path / "agent", tmp_path / "wrong"
    for folder in (central_folder, agent_folder, wrong_folder):
        folder.mkdir()
    central_config, central_run = signoz_run(central, central_folder)
    [token] = central_run.token_files.values()
    token.write_text(INGEST_KEY)
    ingest_port = central_run.ports[f"receivers.{INGEST_RECEIVER}.protocols.http"]
    ingest = f"http://127.0.0.1:{ingest_port}"
    agent_config = rendered(remote, "agent")
    agent_run = rewrite_for_test(agent_config.config, agent_folder, remote_endpoint=ingest)
    wrong_run = rewrite_for_test(agent_config.config, wrong_folder, remote_endpoint=ingest)
    assert agent_config.env["SIGNOZ_API_KEY"], "the key comes from the rendered Secret reference"
    out = central_run.outputs[TRACES_EXPORTER]
    with start("central", "signoz", central_run, central_config.env, central_folder) as central_collector:
        json_headers = {"Content-Type": "application/json"}
        probe = _otlp_request("not-an-agent")
        assert post(f"{ingest}/v1/traces", probe, json_headers) == 401
        wrong_key = json_headers | {"Authorization": "Bearer not-the-key"}
        assert post(f"{ingest}/v1/traces", probe, wrong_key) == 401

        env = agent_config.env | {"SIGNOZ_API_KEY": INGEST_KEY}
        with start("agent", "agent", agent_run, env, agent_folder) as agent_collector:
            extra = envoy_spans.CREDENTIAL_TAGS | envoy_spans.NEAR_MISS_TAGS
            hop = send_hop(agent_run.ports["receivers.zipkin"], remote, "frontend.otel-demo", "cart.checkout", extra)
            spans = wait_for(
                lambda: of_trace(out, hop.trace_id),
                lambda s: len(s) >= 2,
                "the agent's spans at the central ingest",
                agent_collector,
                central_collector,
            )
        assert_tagged_as(remote, spans, hop, scrubbed=True)

        wrong_env = agent_config.env | {"SIGNOZ_API_KEY": "not-the-key"}
        with start("wrong-key-agent", "agent", wrong_run, wrong_env, wrong_folder) as wrong_agent:
            refused = send_hop(wrong_run.ports["receivers.zipkin"], remote, "frontend.otel-demo", "cart.checkout", {})
            deadline = time.monotonic() + 30
            while "401" not in wrong_agent.log_text() and time.monotonic() < deadline:
                time.sleep(0.3)
            assert "401" in wrong_agent.log_text(), wrong_agent.log_text()[-3000:]
        time.sleep(2)  # past the central batch timeout (1 s) and the file exporter's flush (1 s)
        assert of_trace(out, refused.trace_id) == [], "spans sent with a wrong key were stored"
        assert not [s for s in exported_spans(out) if s.resource.get("service.name") == "not-an-agent"]
