"""What the cluster receives: the pinned charts rendered with each test stack's exact values.

The charts come from the local mirror (MESH_TRACING_CHART_MIRROR) or `make charts`; both renderers
(a helm binary, the embedded engine) give the same objects.
"""

from __future__ import annotations

import copy
import functools
import json
import shutil
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
import yaml

from kube import revisions
from kube.resources import HELM_RELEASE_TYPE as RELEASE
from meshtools import helm, manifests
from meshtools.charts import locate
from meshtools.cli import ToolError
from meshtools.desired import desired_state
from meshtools.manifests import Manifest
from meshtools.recording import Run
from tests.conftest import (
    SHIPPED_STACK_NAMES,
    TEST_STACK_NAMES,
    raw_settings,
    run_test_stack,
    shipped_run,
    shipped_stack,
    stack_run,
    stack_settings,
)
from tests.support.rendered import Rule, by_kind, check, evaluate, rendered_objects
from versions.table import CHARTS, RETIRED_LOCATIONS, ChartId

Edit = Callable[[dict[str, Any]], None]


@functools.cache
def rendered(stack: str) -> tuple[Manifest, ...]:
    return tuple(rendered_objects(stack_run(stack)))


MESH = ["mesh config Zipkin provider", "mesh Telemetry", "mesh PeerAuthentication"]
COLLECTOR = ["collector Service", "collector traces pipeline"]
# The data-path checks each test stack's rendered objects get (the namespaces' labels follow them).
DATA_PATH_CHECKS = {
    "canary": [
        "mesh config Zipkin provider (default)", "mesh config Zipkin provider (1-31)", *MESH[1:], *COLLECTOR
    ],
    "demo": [*MESH, *COLLECTOR],
    "dev": [*MESH, *COLLECTOR],
    "edge": [*MESH, *COLLECTOR],
    "minimal": [*MESH, *COLLECTOR],
    "prod": [*MESH, *COLLECTOR, "ingest"],
    "remote": [*MESH, "agent Service", "agent traces pipeline", "agent exporter"],
    "tail": [*MESH, "trace router Service", "trace router traces pipeline", "tail sampler"],
    "values": [
        "mesh config Zipkin provider (default)", "mesh config Zipkin provider (1-31)", *MESH[1:], *COLLECTOR
    ],
}  # fmt: skip


@pytest.mark.parametrize("stack", TEST_STACK_NAMES)
def test_every_rendered_object_conforms_and_the_data_path_holds(stack: str) -> None:
    settings = stack_settings(stack)
    findings = check(stack, settings, list(rendered(stack)))
    assert findings.problems == []
    assert findings.not_evaluated == [], "the Telemetry and PeerAuthentication rules are plain CEL"
    labels = [f"namespace {name} injection label" for name in revisions.meshed_namespaces(settings)]
    assert findings.checked == DATA_PATH_CHECKS[stack] + labels, "the rules verify runs, those a rendering shows"


def test_the_stream_holds_what_a_reviewer_looks_for() -> None:
    objects = rendered("prod")
    titles = {m.title for m in objects}
    assert {
        "Deployment istio-system/istiod",
        "ConfigMap istio-system/istio",
        "Deployment signoz/signoz-otel-collector",
        "ConfigMap signoz/signoz-otel-collector",
        "Service signoz/signoz-otel-collector",
        "ConfigMap istio-system/kiali",
        "Telemetry istio-system/mesh-default",
    } <= titles
    [secret] = [m for m in objects if m.title == "Secret istio-system/kiali"]
    assert secret.object["stringData"] == {"oidc-secret": "[secret]"}


def test_the_revision_reaches_the_rendered_mesh_config(edge: Run) -> None:
    titles = {m.title for m in rendered("edge")}
    assert {"ConfigMap istio-system/istio-canary", "Deployment istio-system/istiod-canary"} <= titles


# --------------------------------------------------------------------------- the checks can fail


def mutated(stack: str, kind: str, name: str, edit: Edit) -> list[Manifest]:
    objects = [Manifest(m.origin, copy.deepcopy(m.object)) for m in rendered(stack)]
    [target] = [m for m in objects if m.key[1] == kind and m.key[2] == name]
    edit(target.object)
    return objects


def problems_of(stack: str, objects: list[Manifest]) -> list[str]:
    return check(stack, stack_settings(stack), objects).problems


def _collector_config(edit: Callable[[dict[str, Any]], None], key: str = "otel-collector-config.yaml") -> Edit:
    def change(configmap: dict[str, Any]) -> None:
        config = yaml.safe_load(configmap["data"][key])
        edit(config)
        configmap["data"][key] = yaml.safe_dump(config)

    return change


def _agent_config(edit: Callable[[dict[str, Any]], None]) -> Edit:
    return _collector_config(edit, "otel-agent-config.yaml")


def test_a_pipeline_without_zipkin_is_caught() -> None:
    def drop(config: dict[str, Any]) -> None:
        config["service"]["pipelines"]["traces"]["receivers"].remove("zipkin")

    objects = mutated("dev", "ConfigMap", "signoz-otel-collector", _collector_config(drop))
    assert problems_of("dev", objects) == [
        "dev: rendered: collector traces pipeline: Deployment signoz-otel-collector: the traces pipeline receives "
        "['otlp', 'jaeger'], not zipkin"
    ]


def test_a_receiver_on_localhost_is_caught() -> None:
    def localhost(config: dict[str, Any]) -> None:
        config["receivers"]["zipkin"]["endpoint"] = "localhost:9411"

    objects = mutated("dev", "ConfigMap", "signoz-otel-collector", _collector_config(localhost))
    assert problems_of("dev", objects) == [
        "dev: rendered: collector traces pipeline: Deployment signoz-otel-collector: the zipkin receiver listens on "
        "localhost:9411, not 0.0.0.0:9411"
    ]


def test_a_port_missing_from_the_service_is_caught() -> None:
    def close(service: dict[str, Any]) -> None:
        service["spec"]["ports"] = [p for p in service["spec"]["ports"] if p["port"] != 9411]

    objects = mutated("prod", "Service", "signoz-otel-collector", close)
    assert problems_of("prod", objects) == [
        "prod: rendered: collector Service: Service signoz/signoz-otel-collector exposes "
        "[14250, 14268, 8081, 8082, 8888, 4317, 4318, 4319], not 9411"
    ]


# --------------------------------------------------------------------------- remote mode: the agent


def test_remote_stack_renders_the_agent_and_no_signoz() -> None:
    titles = {m.title for m in rendered("remote")}
    assert {
        "DaemonSet signoz/k8s-infra-otel-agent",
        "Service signoz/k8s-infra-otel-agent",
        "ConfigMap signoz/k8s-infra-otel-agent",
        "Secret signoz/signoz-ingest-key",
    } <= titles
    assert not [t for t in titles if "clickhouse" in t.lower() or "zookeeper" in t.lower()]
    assert not [t for t in titles if t.startswith(("Deployment", "StatefulSet")) and "signoz/" in t]
    [daemonset] = [m.object for m in rendered("remote") if m.title == "DaemonSet signoz/k8s-infra-otel-agent"]
    ports = daemonset["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert {p["name"]: p.get("hostPort") for p in ports} == {"health-check": None, "metrics": None, "zipkin": None}


def test_agent_spans_leaving_their_node_are_caught() -> None:
    def cluster_wide(service: dict[str, Any]) -> None:
        service["spec"]["internalTrafficPolicy"] = "Cluster"

    objects = mutated("remote", "Service", "k8s-infra-otel-agent", cluster_wide)
    assert problems_of("remote", objects) == [
        "remote: rendered: agent Service: Service signoz/k8s-infra-otel-agent has internalTrafficPolicy Cluster, "
        "not Local "
        "(spans would leave their node)"
    ]


def test_agent_without_zipkin_port_or_receiver_is_caught() -> None:
    def close(service: dict[str, Any]) -> None:
        service["spec"]["ports"] = [p for p in service["spec"]["ports"] if p["port"] != 9411]

    assert problems_of("remote", mutated("remote", "Service", "k8s-infra-otel-agent", close)) == [
        "remote: rendered: agent Service: Service signoz/k8s-infra-otel-agent exposes [13133, 8888], not 9411"
    ]

    def drop(config: dict[str, Any]) -> None:
        config["service"]["pipelines"]["traces"]["receivers"] = ["otlp"]

    assert problems_of("remote", mutated("remote", "ConfigMap", "k8s-infra-otel-agent", _agent_config(drop))) == [
        "remote: rendered: agent traces pipeline: DaemonSet k8s-infra-otel-agent: the traces pipeline receives "
        "['otlp'], not zipkin"
    ]


def test_agent_exporting_elsewhere_is_caught() -> None:
    def elsewhere(config: dict[str, Any]) -> None:
        config["exporters"]["otlphttp/signoz-remote"]["endpoint"] = "https://attacker.example.com"

    objects = mutated("remote", "ConfigMap", "k8s-infra-otel-agent", _agent_config(elsewhere))
    assert problems_of("remote", objects) == [
        "remote: rendered: agent exporter: the agent's traces exporters ['otlphttp/signoz-remote'] send to "
        "['https://attacker.example.com'], not https://signoz-ingest.example.com"
    ]


def test_agent_key_not_from_the_secret_is_caught() -> None:
    def plain(daemonset: dict[str, Any]) -> None:
        for variable in daemonset["spec"]["template"]["spec"]["containers"][0]["env"]:
            if variable["name"] == "SIGNOZ_API_KEY":
                variable.pop("valueFrom")
                variable["value"] = "pasted-key"

    objects = mutated("remote", "DaemonSet", "k8s-infra-otel-agent", plain)
    assert problems_of("remote", objects) == [
        "remote: rendered: agent exporter: the agent's env SIGNOZ_API_KEY is {'value': 'pasted-key'}, "
        "not a secretKeyRef"
    ]

    def no_header(config: dict[str, Any]) -> None:
        del config["exporters"]["otlphttp/signoz-remote"]["headers"]

    objects = mutated("remote", "ConfigMap", "k8s-infra-otel-agent", _agent_config(no_header))
    assert problems_of("remote", objects) == [
        "remote: rendered: agent exporter: the agent's exporter sends no key from the environment (headers [])"
    ]


def test_agent_metrics_on_localhost_are_caught() -> None:
    def localhost(config: dict[str, Any]) -> None:
        del config["service"]["telemetry"]["metrics"]

    objects = mutated("remote", "ConfigMap", "k8s-infra-otel-agent", _agent_config(localhost))
    assert problems_of("remote", objects) == [
        "remote: rendered: agent exporter: the agent keeps the default metrics reader (localhost only), not 0.0.0.0"
    ]


# --------------------------------------------------------------------------- the central side: ingest


def test_ingest_without_tls_is_caught() -> None:
    def plain_http(ingress: dict[str, Any]) -> None:
        del ingress["spec"]["tls"]

    assert problems_of("prod", mutated("prod", "Ingress", "signoz-otel-collector", plain_http)) == [
        "prod: rendered: ingest: the Ingress for signoz-ingest.example.com has no TLS"
    ]


def test_ingest_without_authentication_is_caught() -> None:
    def unauthenticated(config: dict[str, Any]) -> None:
        config["service"]["extensions"].remove("bearertokenauth/ingest")

    objects = mutated("prod", "ConfigMap", "signoz-otel-collector", _collector_config(unauthenticated))
    assert problems_of("prod", objects) == [
        "prod: rendered: ingest: the ingest receiver otlp/ingest is not authenticated by an enabled extension"
    ]

    def unmounted(deployment: dict[str, Any]) -> None:
        pod = deployment["spec"]["template"]["spec"]
        pod["volumes"] = [v for v in pod["volumes"] if "secret" not in v]

    assert problems_of("prod", mutated("prod", "Deployment", "signoz-otel-collector", unmounted)) == [
        "prod: rendered: ingest: the ingest token file /etc/mesh-tracing/ingest/token is not on a mounted Secret"
    ]


def test_ingest_port_missing_from_the_service_is_caught() -> None:
    def close(service: dict[str, Any]) -> None:
        service["spec"]["ports"] = [p for p in service["spec"]["ports"] if p["port"] != 4319]

    [problem] = problems_of("prod", mutated("prod", "Service", "signoz-otel-collector", close))
    assert problem.startswith("prod: rendered: ingest: the ingest Ingress routes to {'name': 'signoz-otel-collector'")


def test_kiali_reading_another_prometheus_is_caught() -> None:
    def elsewhere(configmap: dict[str, Any]) -> None:
        config = yaml.safe_load(configmap["data"]["config.yaml"])
        config["external_services"]["prometheus"]["url"] = "http://prometheus.istio-system:9090"
        configmap["data"]["config.yaml"] = yaml.safe_dump(config)

    objects = mutated("dev", "ConfigMap", "kiali", elsewhere)
    assert problems_of("dev", objects) == [
        "dev: rendered: Kiali reads Prometheus at http://prometheus.istio-system:9090, not "
        "http://prometheus-server.istio-system.svc.cluster.local:80"
    ]


def test_a_bad_field_of_a_rendered_object_is_caught_for_every_kubernetes_version() -> None:
    def misspell(deployment: dict[str, Any]) -> None:
        deployment["spec"]["replica"] = deployment["spec"].pop("replicas", 1)

    problems = problems_of("dev", mutated("dev", "Deployment", "istiod", misspell))
    assert [p.split(": ", 2)[1] for p in problems] == [
        f"Deployment istio-system/istiod (Kubernetes 1.3{minor}.0)" for minor in range(2, 7)
    ]
    assert all("'replica' was unexpected" in p for p in problems)


def test_cel_rules_of_the_crds_are_evaluated() -> None:
    def both(telemetry: dict[str, Any]) -> None:
        telemetry["spec"]["selector"] = {"matchLabels": {"app": "web"}}
        telemetry["spec"]["targetRefs"] = [{"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "g"}]

    problems = problems_of("prod", mutated("prod", "Telemetry", "mesh-default", both))
    assert problems == [
        "prod: Telemetry istio-system/mesh-default (telemetry.istio.io/v1): spec: only one of targetRefs or "
        "selector can be set (the rule is false)"
    ]

    def port_level(policy: dict[str, Any]) -> None:
        policy["spec"]["portLevelMtls"] = {"http": {"mode": "DISABLE"}}

    problems = problems_of("prod", mutated("prod", "PeerAuthentication", "default", port_level))
    assert [p.split(": ", 3)[2] for p in problems] == ["spec", "spec.portLevelMtls"]
    assert "portLevelMtls requires selector (the rule is false)" in problems[0]
    assert "port must be between 1-65535 (evaluation error:" in problems[1]


def test_kubernetes_only_cel_functions_are_listed_not_passed() -> None:
    assert evaluate(Rule("isURL(self) ? url(self).getScheme() == 'https' : false", "m"), "https://x") is None
    assert evaluate(Rule("self.size() <= 3", "m"), "abcd") == "the rule is false"
    assert evaluate(Rule("self.size() <= 3", "m"), "abc") is True


# --------------------------------------------------------------------------- the two engines


@pytest.mark.skipif(
    shutil.which("helm") is None, reason="no helm binary on PATH to compare with (GitHub runners have one)"
)
def test_the_helm_binary_and_the_embedded_engine_render_the_same_objects() -> None:
    state = desired_state("dev", stack_run("dev"))
    for entry in (e for e in state["resources"].values() if "release" in e):
        release = entry["release"]
        source = locate(manifests.chart_of(entry), str(release["version"]))
        args = (source.path, entry["values"], release["name"], release["namespace"])
        cli = sorted(
            (d.source, yaml.safe_dump(d.object)) for d in helm.CliEngine(str(shutil.which("helm"))).render(*args)
        )
        sdk = sorted((d.source, yaml.safe_dump(d.object)) for d in helm.SdkEngine().render(*args))
        assert cli == sdk, release["name"]


def test_the_engine_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(helm.ENGINE_ENV, "sdk")
    assert helm.engine().name == "helm-python-sdk"
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv(helm.ENGINE_ENV, "auto")
    assert helm.engine().name == "helm-python-sdk", "no helm binary: the embedded engine"
    monkeypatch.setenv(helm.ENGINE_ENV, "cli")
    with pytest.raises(ToolError, match="there is no `helm` on PATH"):
        helm.engine()


def test_workloads_by_kind_are_found() -> None:
    deployments = by_kind(rendered("dev"), "Deployment")
    assert ("signoz", "signoz-otel-collector") in deployments
    assert {obj["kind"] for obj in deployments.values()} == {"Deployment"}
    assert ("signoz", "signoz-otel-collector") not in by_kind(rendered("dev"), "Secret"), "keyed by kind too"


# --------------------------------------------------------------------------- what a change restarts


def restarts_after(overrides: dict[str, Any]) -> list[str]:
    return manifests.workload_changes(rendered("dev"), rendered_objects(run_test_stack("dev", overrides)))


def test_sampling_and_mtls_restart_nothing() -> None:
    assert restarts_after({"samplingPercent": 7}) == ["no workload restarts"]
    assert restarts_after({"mtlsMode": "STRICT"}) == ["no workload restarts"]


def test_a_resource_attribute_restarts_the_collector() -> None:
    assert restarts_after({"resourceAttributes": {"team": "payments"}}) == [
        "will restart: Deployment signoz/signoz-otel-collector (its pod template changes)"
    ]


def test_a_mesh_config_change_is_applied_without_a_restart() -> None:
    istio = raw_settings("dev")["istio"] | {"maxTagLength": 1024}
    lines = restarts_after({"istio": istio})
    assert lines[0] == "no workload restarts"
    # The mesh ConfigMap, and the chart's copy of its values; istiod mounts neither, it watches them.
    assert [line.split(" — ")[0] for line in lines[1:]] == [
        "changes without a restart: ConfigMap istio-system/istio",
        "changes without a restart: ConfigMap istio-system/values",
    ]


def test_new_and_removed_workloads_are_named() -> None:
    lines = restarts_after({"kiali": {"enabled": False}})
    assert lines == ["will stop: Deployment istio-system/kiali", "will stop: Deployment istio-system/prometheus-server"]


def test_re_tagging_other_clusters_spans_is_caught() -> None:
    def retag(config: dict[str, Any]) -> None:
        config["service"]["pipelines"]["traces/ingest"]["processors"].insert(1, "resource/mesh-tracing")

    objects = mutated("prod", "ConfigMap", "signoz-otel-collector", _collector_config(retag))
    assert problems_of("prod", objects) == [
        "prod: rendered: ingest: spans ingested from other clusters pass resource/mesh-tracing, which re-tags them "
        "as this one"
    ]


def test_a_validating_webhook_that_starts_as_ignore_is_caught() -> None:
    def ignore(webhook: dict[str, Any]) -> None:
        webhook["webhooks"][0]["failurePolicy"] = "Ignore"

    objects = mutated("edge", "ValidatingWebhookConfiguration", "istiod-default-validator", ignore)
    assert problems_of("edge", objects) == [
        "edge: ValidatingWebhookConfiguration istiod-default-validator webhook validation.istio.io starts as "
        "Ignore, not Fail"
    ]


def _images(node: Any) -> Iterator[str]:
    """Every container image of a rendered object, and the hub istiod's injector builds proxies from."""
    if isinstance(node, dict):
        for key, value in node.items():
            if (key == "image" and isinstance(value, str)) or (key == "hub" and isinstance(value, str)):
                yield value
            else:
                yield from _images(value)
    elif isinstance(node, list):
        for item in node:
            yield from _images(item)


def sources_and_images(run: Run, objects: Iterable[Manifest]) -> list[str]:
    """Where a stack pulls from: each release's chart repository (or OCI reference), every rendered
    image, and the injector's `values` (the proxies' hub lives in a JSON document of a ConfigMap)."""
    found = [str(r.inputs.get("repositoryOpts", {}).get("repo") or r.inputs["chart"]) for r in run.by_type(RELEASE)]
    for manifest in objects:
        found += _images(manifest.object)
        if manifest.object.get("kind") == "ConfigMap":
            for text in (manifest.object.get("data") or {}).values():
                if isinstance(text, str) and text.lstrip().startswith("{"):
                    found += _images(json.loads(text))
    return found


@pytest.mark.parametrize("stack", [*TEST_STACK_NAMES, *(f"shipped:{n}" for n in SHIPPED_STACK_NAMES)])
def test_no_stack_uses_a_location_istio_retired(stack: str) -> None:
    shipped = stack.removeprefix("shipped:")
    run, settings = (
        (shipped_run(shipped), shipped_stack(shipped).settings)
        if shipped != stack
        else (stack_run(stack), stack_settings(stack))
    )
    found = sources_and_images(run, rendered_objects(run))
    assert settings.istio.hub in found, "the injector's hub was read (the proxies' images)"
    retired = [where for where in found for location in RETIRED_LOCATIONS if location in where]
    assert retired == []


def test_the_hub_reaches_istiod_the_proxies_and_the_demo() -> None:
    found = set(sources_and_images(stack_run("canary"), rendered("canary")))
    assert {
        f"registry.example.com:5000/istio/pilot:{CHARTS[ChartId.ISTIOD].versions[1]}",
        "registry.example.com:5000/istio",  # the injector's hub for proxyv2
        "registry.example.com:5000/istio/examples-bookinfo-details-v1:1.20.3",
        "oci://ghcr.io/istio/release/charts/istiod",
    } <= found
    dev = set(sources_and_images(stack_run("dev"), rendered("dev")))
    assert f"docker.io/istio/pilot:{CHARTS[ChartId.ISTIOD].default_version}" in dev
    assert "https://blob.istio.io/istio-release/charts" in dev


def _has_empty_list(node: Any) -> bool:
    if isinstance(node, dict):
        return any(_has_empty_list(v) for v in node.values())
    if isinstance(node, list):
        return node == [] or any(_has_empty_list(v) for v in node)
    return False


@pytest.mark.parametrize("stack", TEST_STACK_NAMES)
def test_releases_hand_their_values_to_helm_as_written(stack: str) -> None:
    """What is rendered here is what is installed: without allowNullValues the Kubernetes provider
    turns each empty list of the values into null, which Helm reads as "delete the chart's default"
    (the real provider did so with the agent's `included: []`, `make e2e`)."""
    releases = stack_run(stack).by_type("kubernetes:helm.sh/v3:Release")
    assert releases and all(r.inputs.get("allowNullValues") is True for r in releases)


def test_the_agent_values_hold_empty_lists_that_must_reach_helm() -> None:
    """The rule above matters: the remote stack's agent values set lists to empty on purpose."""
    agent = stack_run("remote").named("signoz-agent-release")
    assert _has_empty_list(agent.inputs["values"])
