"""IstioMesh on the test stacks: where tracing config lands, what reaches the CRs, and the ordering.

Whole values are pinned by the golden files; these tests state the behaviour behind them.
"""

from __future__ import annotations

from typing import Any

from components.istio_mesh import mesh_config
from kube import naming
from kube.resources import HELM_RELEASE_TYPE, PEER_AUTHENTICATION_TYPE, TELEMETRY_TYPE
from meshtools.recording import Run, changed_resources
from program.wiring import istio_mesh_args
from tests.conftest import raw_settings, run_test_stack, stack_run, stack_settings
from versions.table import CHARTS, ChartId, version_key


def values(run: Run, name: str) -> dict[str, Any]:
    release = run.named(name)
    assert release.type == HELM_RELEASE_TYPE
    result: dict[str, Any] = release.inputs["values"]
    return result


def zipkin_provider(run: Run) -> dict[str, Any]:
    [provider] = values(run, "mesh-istiod")["meshConfig"]["extensionProviders"]
    return dict(provider)


def test_istiod_reports_to_the_collector_of_the_same_stack(any_test_stack: str) -> None:
    run = stack_run(any_test_stack)
    provider = zipkin_provider(run)
    zipkin = provider["zipkin"]
    assert f"http://{zipkin['service']}:{zipkin['port']}{naming.ZIPKIN_PATH}" == run.outputs["zipkinEndpoint"]
    assert provider["name"] == run.outputs["tracingProvider"]
    mesh = values(run, "mesh-istiod")["meshConfig"]
    # Tracing by default, and the metrics provider Kiali's graph needs kept next to it.
    assert mesh["defaultProviders"] == {"metrics": ["prometheus"], "tracing": [provider["name"]]}


def test_mesh_config_sits_where_the_chart_reads_it(dev: Run) -> None:
    istiod = values(dev, "mesh-istiod")
    assert istiod["global"] == {
        "istioNamespace": "istio-system",
        "hub": "docker.io/istio",
        "tag": CHARTS[ChartId.ISTIOD].default_version,
    }, "no global.meshConfig, tracer or mtls; images from docker.io/istio at the chart's own version"
    assert "tracing" not in istiod["meshConfig"]["defaultConfig"], "no legacy defaultConfig.tracing"
    assert istiod["meshConfig"]["defaultConfig"]["proxyStatsMatcher"] == {"inclusionPrefixes": ["tracing.zipkin"]}
    assert istiod["base"] == {"validationFailurePolicy": "Fail"}


def test_provider_settings_reach_the_mesh_config(edge: Run) -> None:
    provider = zipkin_provider(edge)
    assert provider == {
        "name": "zipkin-signoz",
        "zipkin": {
            "service": "signoz-otel-collector.observability.svc.cluster.local",
            "port": 9411,
            "maxTagLength": 512,
            "traceContextOption": "USE_B3",
        },
    }
    assert edge.named("mesh-telemetry").inputs["spec"]["tracing"][0]["providers"] == [{"name": "zipkin-signoz"}]


def test_istiod_sizing(dev: Run, prod: Run) -> None:
    assert (values(dev, "mesh-istiod")["autoscaleMin"], values(dev, "mesh-istiod")["autoscaleMax"]) == (1, 1)
    assert values(dev, "mesh-istiod")["resources"] == {"requests": {"cpu": "100m", "memory": "512Mi"}}
    assert (values(prod, "mesh-istiod")["autoscaleMin"], values(prod, "mesh-istiod")["autoscaleMax"]) == (2, 5)


def test_releases_are_pinned_from_the_version_table(any_test_stack: str) -> None:
    run = stack_run(any_test_stack)
    istio = raw_settings(any_test_stack).get("istio", {})
    listed = {entry["name"]: entry["chartVersion"] for entry in istio.get("revisions", [])}
    for name, chart_id, release in [
        ("mesh-base", ChartId.ISTIO_BASE, "istio-base"),
        ("mesh-istiod", ChartId.ISTIOD, "istiod"),
    ]:
        inputs = run.named(name).inputs
        chart = CHARTS[chart_id]
        version = istio.get("chartVersion", chart.default_version)
        if listed:  # base: the newest control plane's CRDs; istiod: the control plane it always ran
            version = max(listed.values(), key=version_key) if chart_id is ChartId.ISTIO_BASE else listed["default"]
        repository = istio.get("chartRepository", chart.repository)
        if repository.startswith("oci://"):
            assert (inputs["chart"], "repositoryOpts" in inputs) == (f"{repository}/{chart.name}", False)
        else:
            assert (inputs["chart"], inputs["repositoryOpts"]) == (chart.name, {"repo": repository})
        assert (inputs["version"], inputs["name"]) == (version, release)
        assert run.named(name).ignore_changes == ("checksum",)


def test_sampling_and_tags_reach_the_mesh_telemetry(dev: Run, prod: Run) -> None:
    for run, sampling, environment, cluster, production in [
        (dev, 100, "dev", "dev-kind", "false"),
        (prod, 1, "production", "prod-eu-west-1", "true"),
    ]:
        telemetry = run.named("mesh-telemetry")
        assert telemetry.type == TELEMETRY_TYPE
        assert telemetry.inputs["metadata"] == {
            "name": "mesh-default",
            "namespace": "istio-system",
            "labels": {"mesh-tracing.io/production": production},  # the decision the policy pack reads
        }
        [rule] = telemetry.inputs["spec"]["tracing"]
        assert rule["randomSamplingPercentage"] == sampling
        assert rule["customTags"] == {
            "environment": {"literal": {"value": environment}},
            "cluster": {"literal": {"value": cluster}},
        }


def test_configured_mesh_tags_follow_the_reserved_ones(edge: Run) -> None:
    [rule] = edge.named("mesh-telemetry").inputs["spec"]["tracing"]
    assert set(rule["customTags"]) == {"environment", "cluster", "pod", "request", "team"}
    assert rule["customTags"]["pod"] == {"environment": {"name": "POD_NAME", "defaultValue": "unknown"}}
    assert rule["customTags"]["request"] == {"header": {"name": "x-request-id"}}
    assert rule["randomSamplingPercentage"] == 12.5


def test_peer_authentication_mode(dev: Run, prod: Run) -> None:
    for run, mode in [(dev, "PERMISSIVE"), (prod, "STRICT")]:
        pa = run.named("mesh-peer-authentication")
        assert pa.type == PEER_AUTHENTICATION_TYPE
        assert pa.inputs["metadata"] == {"name": "default", "namespace": "istio-system"}
        assert pa.inputs["spec"] == {"mtls": {"mode": mode}}


def test_ordering_through_real_dependencies(any_test_stack: str) -> None:
    run = stack_run(any_test_stack)
    assert run.named("mesh-base").dependency_names == {"mesh-namespace"}
    assert {"mesh-base"} <= run.named("mesh-istiod").dependency_names
    for cr in ("mesh-telemetry", "mesh-peer-authentication"):
        assert {"mesh-base", "mesh-istiod"} <= run.named(cr).dependency_names


def test_istio_is_parented_and_independent_of_signoz(any_test_stack: str) -> None:
    run = stack_run(any_test_stack)
    children = [r for r in run if r.parent_name == "mesh"]
    assert {r.name for r in children} >= {"mesh-base", "mesh-istiod", "mesh-telemetry", "mesh-peer-authentication"}
    for child in children:
        assert not any(dep.startswith("signoz") for dep in child.dependency_names), child.name


def test_gateway_after_istiod_in_its_own_namespace(prod: Run, edge: Run, dev: Run) -> None:
    for run, namespace, service_type in [(prod, "istio-ingress", "LoadBalancer"), (edge, "edge-gateways", "NodePort")]:
        gateway = run.named("mesh-gateway")
        assert (gateway.inputs["chart"], gateway.inputs["name"], gateway.inputs["namespace"]) == (
            "gateway",
            "istio-ingress",
            namespace,
        )
        assert gateway.inputs["values"]["service"] == {"type": service_type}
        assert gateway.dependency_names == {"mesh-gateway-namespace", "mesh-base", "mesh-istiod"}
        assert run.outputs["gatewayService"] == f"istio-ingress.{namespace}.svc.cluster.local"
    assert dev.maybe("mesh-gateway") is None
    assert dev.outputs["gatewayService"] is None


def test_revision_reaches_istiod_base_and_gateway(edge: Run) -> None:
    assert values(edge, "mesh-istiod")["revision"] == "canary"
    assert values(edge, "mesh-base")["defaultRevision"] == "canary"
    assert values(edge, "mesh-gateway")["revision"] == "canary"


def test_changing_sampling_changes_only_the_mesh_telemetry(dev: Run) -> None:
    changed = changed_resources(dev, run_test_stack("dev", {"samplingPercent": 42.5}, previous=dev))
    assert changed == {"mesh-telemetry": "changed"}


def test_changing_mtls_changes_only_the_peer_authentication(dev: Run) -> None:
    changed = changed_resources(dev, run_test_stack("dev", {"mtlsMode": "STRICT"}, previous=dev))
    assert changed == {"mesh-peer-authentication": "changed"}


def test_provider_address_follows_the_signoz_namespace() -> None:
    settings = stack_settings("dev").model_copy(
        update={"signoz": stack_settings("dev").signoz.model_copy(update={"namespace": "tracing"})}
    )
    provider = mesh_config(istio_mesh_args(settings))["extensionProviders"][0]
    assert provider["zipkin"]["service"] == "signoz-otel-collector.tracing.svc.cluster.local"
    assert raw_settings("dev")["signoz"].get("namespace") is None, "the test stack keeps the default namespace"


def test_an_internal_chart_repository_serves_every_release(any_test_stack: str) -> None:
    """Air-gapped: `chartRepository` replaces every public repository, an OCI one by chart reference."""
    for repository, expect_chart, expect_opts in [
        ("https://charts.internal.example.com/mesh", None, {"repo": "https://charts.internal.example.com/mesh"}),
        ("oci://registry.internal.example.com/charts", "oci://registry.internal.example.com/charts/", None),
    ]:
        run = run_test_stack(any_test_stack, {"chartRepository": repository})
        releases = run.by_type(HELM_RELEASE_TYPE)
        assert releases
        istio_repository = raw_settings(any_test_stack).get("istio", {}).get("chartRepository")
        for release in releases:
            if istio_repository and release.name.startswith("mesh-"):
                assert istio_repository in release.inputs["chart"], "istio.chartRepository wins for Istio's charts"
            elif expect_chart is None:
                assert release.inputs["repositoryOpts"] == expect_opts, release.name
            else:
                assert release.inputs["chart"].startswith(expect_chart), release.name
                assert "repositoryOpts" not in release.inputs, release.name
