"""SigNozStack built alone from its Args: what it registers (golden files per scenario) and its wiring:
namespace first, the ClickHouse password and ingest key secret, the PDB only where it can be honoured,
the trace router nested, what it reports as a TraceSink."""

from __future__ import annotations

from typing import Any

import pytest

from components.signoz_stack import SigNozStack
from components.trace_sink import SINK_KEYS, TraceSink
from kube import naming
from kube.collector_config import INGEST_TOKEN_FILE
from meshtools.recording import changed_resources
from tests.components.builders import SIGNOZ_REPOSITORY, TEST_SECRETS, mesh_processing, signoz_stack_args
from tests.components.scenarios import SCENARIOS, recorded
from tests.support import upstream
from tests.support.components import Recorded, children_of, outside_the_tree, record, releases_not_from
from versions.table import CHARTS, ChartId

RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
OCI = "oci://registry.internal.example.com/charts"


def as_sink(stack: SigNozStack) -> TraceSink:
    """SigNozStack is a TraceSink (mypy checks the Protocol here)."""
    return stack


def collector(stack: Recorded[Any]) -> dict[str, Any]:
    values: dict[str, Any] = stack.named("signoz-release").inputs["values"]["otelCollector"]
    return values


def assert_only_secret(stack: Recorded[Any], secret: str) -> None:
    for resource in stack.resources:
        for key, value in resource.inputs.items():
            if key not in resource.secret_inputs:
                assert secret not in repr(value), f"{resource.name}.{key} carries a secret in plain text"
    assert secret not in repr(stack.run.component_outputs)


@pytest.mark.parametrize("scenario", SCENARIOS["signoz_stack"])
def test_everything_is_in_its_tree_in_its_namespace_after_it(scenario: str) -> None:
    stack = recorded("signoz_stack", scenario)
    assert outside_the_tree(stack) == []
    namespace = stack.named("signoz-namespace").inputs["metadata"]["name"]
    release = stack.named("signoz-release")
    assert release.inputs["namespace"] == namespace and "signoz-namespace" in release.dependency_names
    for resource in stack.resources:
        if "metadata" in resource.inputs and resource.name != "signoz-namespace":
            assert resource.inputs["metadata"].get("namespace") == namespace, resource.name
            assert "signoz-namespace" in resource.dependency_names, resource.name


@pytest.mark.parametrize("scenario", SCENARIOS["signoz_stack"])
def test_the_namespace_is_excluded_from_injection(scenario: str) -> None:
    """SigNoz's own pods get no sidecar: their spans would be traced into themselves."""
    labels = recorded("signoz_stack", scenario).named("signoz-namespace").inputs["metadata"]["labels"]
    assert labels["istio-injection"] == "disabled"


def test_the_collector_receives_zipkin_unless_the_router_does() -> None:
    default = collector(recorded("signoz_stack", "default"))
    assert default["ports"] == {"zipkin": {"enabled": True}}
    assert default["config"]["receivers"] == {"zipkin": {"endpoint": "0.0.0.0:9411"}}
    assert "ingress" not in default and "extensions" not in default["config"], "nothing is exposed"
    tail = recorded("signoz_stack", "tail_sampling")
    assert collector(tail)["ports"] == {} and "receivers" not in collector(tail)["config"]
    [router] = [r for r in children_of(tail) if r.type.endswith(":TraceRouter")]
    assert router.name == "signoz-trace-router"
    assert {r.parent_name for r in tail.resources if r.name.startswith("signoz-trace-router-")} == {router.name}
    assert tail.outputs["tracesDestination"]["via"] == "signoz-trace-router.signoz.svc.cluster.local:9411"


def test_the_router_runs_the_chart_collector_image() -> None:
    """Both tiers are one build: the router's image is the one the signoz chart runs."""
    facts = upstream.chart(ChartId.SIGNOZ, CHARTS[ChartId.SIGNOZ].default_version)["collector"]
    deployment = recorded("signoz_stack", "tail_sampling").named("signoz-trace-router-deployment")
    [container] = deployment.inputs["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{facts['image']}:{facts['image_tag']}"


def test_spans_are_tagged_with_environment_and_cluster_then_the_resource_attributes() -> None:
    mesh = mesh_processing(
        environment="production",
        cluster="prod-eu-west-1",
        resource_attributes={"team": "platform", "cloud.region": "x"},
    )
    stack = record(lambda: SigNozStack("signoz", signoz_stack_args(mesh=mesh)))
    attributes = collector(stack)["config"]["processors"]["resource/mesh-tracing"]["attributes"]
    assert [(a["key"], a["value"], a["action"]) for a in attributes] == [
        ("deployment.environment", "production", "upsert"),
        ("k8s.cluster.name", "prod-eu-west-1", "upsert"),
        ("cloud.region", "x", "upsert"),
        ("team", "platform", "upsert"),
    ]


def test_scrubbing_can_be_switched_off_and_the_memory_limiter_sized() -> None:
    mesh = mesh_processing(scrub_credentials=False, memory_limiter={"limit_percent": 70, "spike_limit_percent": 15})
    config = collector(record(lambda: SigNozStack("signoz", signoz_stack_args(mesh=mesh))))["config"]
    assert "attributes/scrub-credentials" not in config["processors"]
    assert "attributes/scrub-credentials" not in config["service"]["pipelines"]["traces"]["processors"]
    assert (
        config["processors"]["memory_limiter"]["limit_percentage"],
        config["processors"]["memory_limiter"]["spike_limit_percentage"],
    ) == (70, 15)
    scrubbed = collector(recorded("signoz_stack", "default"))["config"]["service"]["pipelines"]["traces"]
    assert scrubbed["processors"][:3] == ["memory_limiter", "resource/mesh-tracing", "attributes/scrub-credentials"]


def test_a_pdb_only_where_it_can_be_honoured() -> None:
    """The chart has none; with one replica a PDB would block every node drain."""
    assert recorded("signoz_stack", "default").maybe("signoz-collector-pdb") is None
    pdb = recorded("signoz_stack", "ha").named("signoz-collector-pdb")
    assert pdb.inputs["spec"]["maxUnavailable"] == 1
    chart_labels = upstream.chart(ChartId.SIGNOZ, CHARTS[ChartId.SIGNOZ].default_version)["collector"][
        "pod_match_labels"
    ]
    assert chart_labels.items() <= pdb.inputs["spec"]["selector"]["matchLabels"].items(), "selects the chart's pods"
    autoscaled = record(
        lambda: SigNozStack("signoz", signoz_stack_args(signoz={"collector": {"autoscaling": {"enabled": True}}}))
    )
    assert autoscaled.maybe("signoz-collector-pdb") is not None, "autoscaling keeps at least minReplicas (2)"


def test_protect_covers_the_release_and_the_namespace() -> None:
    stack = recorded("signoz_stack", "ha")
    assert {r.name for r in stack.resources if r.protect} == {"signoz-release", "signoz-namespace"}
    assert not [r.name for r in recorded("signoz_stack", "default").resources if r.protect]


def test_the_generated_password_is_secret_and_never_plain() -> None:
    stack = recorded("signoz_stack", "default")
    release = stack.named("signoz-release")
    password = release.inputs["values"]["clickhouse"]["password"]
    assert password == stack.run.state[(RANDOM_PASSWORD, "signoz-clickhouse-password")][1]["result"], "not a literal"
    assert stack.named("signoz-clickhouse-password").inputs["length"] == 32
    assert "values" in release.secret_inputs and "signoz-clickhouse-password" in release.dependency_names
    assert_only_secret(stack, password)


def test_the_generated_password_does_not_churn() -> None:
    """Kept from state on the next run; a password made anew on every run would show as a change."""

    def stack() -> SigNozStack:
        return SigNozStack("signoz", signoz_stack_args())

    first = record(stack)
    assert changed_resources(first.run, record(stack, previous=first.run).run) == {}
    assert changed_resources(first.run, record(stack).run) == {"signoz-release": "changed"}, "the mock is not constant"


def test_a_configured_password_replaces_the_generated_one() -> None:
    stack = recorded("signoz_stack", "ha")
    assert not stack.run.by_type(RANDOM_PASSWORD)
    release = stack.named("signoz-release")
    assert release.inputs["values"]["clickhouse"]["password"] == TEST_SECRETS["clickhouse_password"]
    assert "values" in release.secret_inputs
    assert_only_secret(stack, TEST_SECRETS["clickhouse_password"])


# --------------------------------------------------------------------------- the central side: signoz.ingest


def test_ingest_adds_an_authenticated_receiver_next_to_the_in_cluster_ones() -> None:
    config = collector(recorded("signoz_stack", "ingest"))["config"]
    assert config["receivers"]["otlp/ingest"]["protocols"]["http"]["auth"] == {
        "authenticator": "bearertokenauth/ingest"
    }
    assert config["extensions"] == {"bearertokenauth/ingest": {"filename": INGEST_TOKEN_FILE}}
    assert "bearertokenauth/ingest" in config["service"]["extensions"]
    pipelines = config["service"]["pipelines"]
    assert pipelines["traces"]["receivers"] == ["otlp", "jaeger", "zipkin"], "in-cluster senders stay as they are"
    ingest = pipelines["traces/ingest"]
    assert ingest["receivers"] == ["otlp/ingest"]
    assert ingest["processors"][0] == "memory_limiter", "other clusters' spans are limited too"
    assert "resource/mesh-tracing" not in ingest["processors"], "their agent tagged them: not re-tagged as this cluster"
    assert ingest["exporters"] == pipelines["traces"]["exporters"], "stored like local spans"


def test_ingest_port_key_file_and_ingress() -> None:
    values = collector(recorded("signoz_stack", "ingest"))
    assert len(naming.INGEST_PORT_NAME) <= 15 and naming.INGEST_PORT_NAME in values["ports"], "a Service port name"
    [key_volume] = [v for v in values["extraVolumes"] if v.get("secret")]
    [mount] = [m for m in values["extraVolumeMounts"] if m["name"] == key_volume["name"]]
    assert key_volume["secret"] == {"secretName": naming.INGEST_KEY_SECRET}, (
        "the default mode: the image's user reads it"
    )
    assert (mount["mountPath"], mount["readOnly"]) == (INGEST_TOKEN_FILE.rsplit("/", 1)[0], True)
    ingress = values["ingress"]
    assert ingress["tls"] == [{"secretName": "signoz-ingest-tls", "hosts": ["signoz-ingest.example.com"]}]
    # ingress-nginx's 1 MiB default would refuse (413, not retried) an agent's larger batches.
    assert ingress["annotations"] == {"nginx.ingress.kubernetes.io/proxy-body-size": "16m"}
    assert [p["path"] for h in ingress["hosts"] for p in h["paths"]] == ["/v1/traces"], "the traces path only"


def test_ingest_without_tls_on_another_ingress_class() -> None:
    def build() -> SigNozStack:
        signoz = {"ingest": {"host": "ingest.dev.example.com", "ingress_class": "traefik"}}
        return SigNozStack("signoz", signoz_stack_args(signoz=signoz, ingest_key=TEST_SECRETS["ingest_key"]))

    ingress = collector(record(build))["ingress"]
    assert (ingress["className"], "tls" in ingress) == ("traefik", False)
    assert "annotations" not in ingress, "an ingress-nginx annotation only for class nginx"


def test_the_ingest_key_is_a_secret_the_collector_mounts_at_start() -> None:
    stack = recorded("signoz_stack", "ingest")
    secret = stack.named("signoz-ingest-key")
    assert secret.inputs["metadata"] == {"name": naming.INGEST_KEY_SECRET, "namespace": "signoz"}
    assert secret.inputs["stringData"] == {naming.INGEST_KEY_SECRET_KEY: TEST_SECRETS["ingest_key"]}
    assert "stringData" in secret.secret_inputs
    assert "signoz-ingest-key" in stack.named("signoz-release").dependency_names
    assert_only_secret(stack, TEST_SECRETS["ingest_key"])


def test_without_ingest_no_key_and_no_endpoint() -> None:
    stack = recorded("signoz_stack", "default")
    assert stack.maybe("signoz-ingest-key") is None
    assert stack.component.outputs["ingestEndpoint"] is None


def test_reports_every_sink_output_and_is_ready_as_a_whole() -> None:
    """register_outputs holds the TraceSink keys (with ingest none is null), as `outputs` says; the demo's
    load waits for the whole component."""
    stack = recorded("signoz_stack", "ingest")
    assert set(stack.outputs) == set(SINK_KEYS)
    assert stack.outputs == stack.component.outputs
    sink = as_sink(stack.component)
    assert list(sink.ready) == [stack.component]
    assert sink.outputs["zipkinEndpoint"] == "http://signoz-otel-collector.signoz.svc.cluster.local:9411/api/v2/spans"


def test_the_release_comes_from_the_repository_it_is_given() -> None:
    stack = record(lambda: SigNozStack("signoz", signoz_stack_args(repository=OCI)))
    assert releases_not_from(stack, OCI) == [] and "signoz-release" in stack.names()
    assert releases_not_from(recorded("signoz_stack", "default"), SIGNOZ_REPOSITORY) == []
