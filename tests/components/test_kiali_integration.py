"""KialiIntegration built alone from its Args: what it registers (golden files per scenario) and its
wiring: after istiod and the Prometheus it deploys, a signing key that is secret and stays, the OIDC
client Secret before Kiali starts, no tracing of its own, a link to SigNoz, what it reports."""

from __future__ import annotations

import pytest

from components.kiali_integration import KialiIntegration
from meshtools.recording import changed_resources
from tests.components.builders import kiali_args, stand_in
from tests.components.scenarios import SCENARIOS, recorded
from tests.support import upstream
from tests.support.components import children_of, outside_the_tree, record
from versions.table import CHARTS, ChartId

RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"
SIGNOZ_LINK = {"title": "Traces in SigNoz", "annotation": "mesh-tracing.io/signoz-traces"}
OUTPUT_KEYS = {"kialiService", "kialiUrl", "prometheusUrl", "signozLinkTemplate"}
OCI = "oci://registry.internal.example.com/charts"


def kiali() -> KialiIntegration:
    return KialiIntegration("kiali", kiali_args(), istio_namespace="istio-system", istiod=stand_in("mesh-istiod"))


@pytest.mark.parametrize("scenario", SCENARIOS["kiali_integration"])
def test_everything_is_its_own_child_in_the_istio_namespace_and_kiali_starts_after_istiod(scenario: str) -> None:
    integration = recorded("kiali_integration", scenario)
    assert outside_the_tree(integration) == [] and children_of(integration) == integration.resources
    release = integration.named("kiali-release")
    assert release.inputs["namespace"] == "istio-system"
    assert "mesh-istiod" in release.dependency_names
    for resource in integration.resources:
        namespace = resource.inputs.get("namespace") or resource.inputs.get("metadata", {}).get("namespace")
        assert namespace in {None, "istio-system"}, resource.name


@pytest.mark.parametrize("scenario", SCENARIOS["kiali_integration"])
def test_kiali_traces_nothing_itself(scenario: str) -> None:
    """Kiali reads traces only from Jaeger or Tempo: a Traces tab could only fail."""
    services = recorded("kiali_integration", scenario).named("kiali-release").inputs["values"]["external_services"]
    assert services["tracing"] == {"enabled": False} and services["grafana"] == {"enabled": False}


def test_the_deployed_prometheus_is_only_a_server_kiali_waits_for() -> None:
    integration = recorded("kiali_integration", "token")
    prometheus = integration.named("kiali-prometheus")
    values = prometheus.inputs["values"]
    assert sorted(name for name, part in values.items() if isinstance(part, dict) and part.get("enabled") is False) == [
        "alertmanager",
        "kube-state-metrics",
        "prometheus-node-exporter",
        "prometheus-pushgateway",
    ]
    assert "kiali-prometheus" in integration.named("kiali-release").dependency_names
    url = integration.named("kiali-release").inputs["values"]["external_services"]["prometheus"]["url"]
    assert url == integration.outputs["prometheusUrl"]


def test_the_deployed_prometheus_keeps_the_pod_scrape_job_on() -> None:
    """Kiali's graph depends on the chart's `kubernetes-pods` job (sidecars' prometheus.io annotations)."""
    facts = upstream.chart(ChartId.PROMETHEUS, CHARTS[ChartId.PROMETHEUS].default_version)
    assert facts["scrape_jobs"]["kubernetes-pods"] is True
    values = recorded("kiali_integration", "token").named("kiali-prometheus").inputs["values"]
    assert "scrapeConfigs" not in values, "the default jobs are kept as is"


def test_an_external_prometheus_deploys_none() -> None:
    integration = recorded("kiali_integration", "anonymous_external")
    assert integration.maybe("kiali-prometheus") is None
    url = integration.named("kiali-release").inputs["values"]["external_services"]["prometheus"]["url"]
    assert url == integration.outputs["prometheusUrl"] == "http://prometheus.monitoring.svc.cluster.local:9090"


def test_the_signing_key_is_the_generated_secret() -> None:
    """Left empty, the chart would generate a new key on every render."""
    integration = recorded("kiali_integration", "token")
    release = integration.named("kiali-release")
    key = release.inputs["values"]["login_token"]["signing_key"]
    assert key == integration.run.state[(RANDOM_PASSWORD, "kiali-signing-key")][1]["result"], "not a literal"
    assert integration.named("kiali-signing-key").inputs["length"] == 32
    assert integration.named("kiali-signing-key").inputs["special"] is False
    assert "values" in release.secret_inputs and "kiali-signing-key" in release.dependency_names


def test_the_generated_signing_key_does_not_churn() -> None:
    """Kept from state on the next run; the mock makes a new value on every create."""
    first = record(kiali)
    assert changed_resources(first.run, record(kiali, previous=first.run).run) == {}
    assert changed_resources(first.run, record(kiali).run) == {"kiali-release": "changed"}, "the mock is not constant"


def test_a_configured_signing_key_replaces_the_generated_one() -> None:
    integration = recorded("kiali_integration", "openid")
    assert not integration.run.by_type(RANDOM_PASSWORD)
    assert "values" in integration.named("kiali-release").secret_inputs


def test_the_oidc_client_secret_is_the_secret_kiali_reads_at_start() -> None:
    integration = recorded("kiali_integration", "openid")
    secret = integration.named("kiali-oidc-secret")
    assert secret.inputs["metadata"] == {"name": "kiali", "namespace": "istio-system"}
    assert set(secret.inputs["stringData"]) == {"oidc-secret"} and "stringData" in secret.secret_inputs
    assert "mesh-istiod" in secret.dependency_names
    assert "kiali-oidc-secret" in integration.named("kiali-release").dependency_names
    assert integration.named("kiali-release").inputs["values"]["auth"]["strategy"] == "openid"
    assert recorded("kiali_integration", "token").maybe("kiali-oidc-secret") is None


def test_the_programs_network_policies_replace_the_charts() -> None:
    """The chart's admits any pod on Kiali's ports; the program's admit only Kiali's clients."""
    openid = recorded("kiali_integration", "openid")
    assert openid.named("kiali-release").inputs["values"]["deployment"]["network_policy"] == {"enabled": False}
    assert "kiali-allow-kiali" in openid.names()
    token = recorded("kiali_integration", "token").named("kiali-release").inputs["values"]["deployment"]
    assert "network_policy" not in token, "without the program's, the chart's stays"


def test_the_signoz_link_next_to_the_charts_own_details() -> None:
    """Helm replaces lists: the chart version's own entries are restated next to ours."""
    linked = recorded("kiali_integration", "anonymous_external")
    details = linked.named("kiali-release").inputs["values"]["additional_display_details"]
    chart_details = upstream.chart(ChartId.KIALI, CHARTS[ChartId.KIALI].default_version)["additional_display_details"]
    assert details == [*chart_details, SIGNOZ_LINK]
    assert linked.outputs["signozLinkTemplate"] == "https://signoz.example.com/services/<app>.<namespace>"
    unlinked = recorded("kiali_integration", "token")
    assert "additional_display_details" not in unlinked.named("kiali-release").inputs["values"]
    assert unlinked.component.outputs["signozLinkTemplate"] is None


def test_reports_what_operators_reach() -> None:
    integration = recorded("kiali_integration", "openid")
    assert integration.outputs == {
        key: value for key, value in integration.component.outputs.items() if value is not None
    }
    assert set(integration.component.outputs) == OUTPUT_KEYS
    assert integration.outputs["kialiUrl"] == "http://kiali.example.com/kiali"
    assert integration.named("kiali-release").inputs["values"]["server"]["web_fqdn"] == "kiali.example.com"
    assert recorded("kiali_integration", "token").component.outputs["kialiUrl"] is None


def test_each_release_comes_from_the_repository_it_is_given() -> None:
    """Kiali's and Prometheus' charts have a repository each (both replaced by chartRepository)."""

    def build() -> KialiIntegration:
        args = kiali_args(kiali_repository=OCI, prometheus_repository=f"{OCI}/prometheus")
        return KialiIntegration("kiali", args, istio_namespace="istio-system", istiod=stand_in("mesh-istiod"))

    integration = record(build)
    assert {r.name: r.inputs["chart"] for r in integration.resources if "chart" in r.inputs} == {
        "kiali-release": f"{OCI}/kiali-server",
        "kiali-prometheus": f"{OCI}/prometheus/prometheus",
    }
