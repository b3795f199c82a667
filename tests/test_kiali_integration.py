"""KialiIntegration: auth per environment, a real Prometheus, a SigNoz link and no broken tracing."""

from __future__ import annotations

from typing import Any

import pytest

from components.kiali_integration import CHART_DISPLAY_DETAILS
from components.settings import SettingsError
from components.versions import CHARTS, ChartId
from meshtools.recording import Run, run_stack
from tests import upstream
from tests.conftest import raw_settings, release_pin

SIGNOZ_LINK = {"title": "Traces in SigNoz", "annotation": "mesh-tracing.io/signoz-traces"}
CHART_LINK = {"title": "API Documentation", "annotation": "kiali.io/api-spec", "icon_annotation": "kiali.io/api-type"}


def kiali_values(run: Run) -> dict[str, Any]:
    values: dict[str, Any] = run.named("kiali-release").inputs["values"]
    return values


def test_release_is_pinned_in_the_istio_namespace_after_istiod(shipped: Run) -> None:
    release = shipped.named("kiali-release")
    assert release_pin(shipped, "kiali-release") == {
        "chart": "kiali-server",
        "version": "2.29.0",
        "name": "kiali",
        "namespace": "istio-system",
        "repositoryOpts": {"repo": "https://kiali.org/helm-charts"},
    }
    assert "mesh-istiod" in release.dependency_names


def test_dev_values(dev: Run) -> None:
    values = kiali_values(dev)
    assert values["auth"] == {"strategy": "anonymous"}
    assert values["external_services"] == {
        "prometheus": {"url": "http://prometheus-server.istio-system.svc.cluster.local:80"},
        "tracing": {"enabled": False},
        "grafana": {"enabled": False},
    }
    assert values["additional_display_details"] == [CHART_LINK, SIGNOZ_LINK]
    assert values["server"] == {"web_root": "/kiali"}
    assert "deployment" not in values


def test_prod_values(prod: Run) -> None:
    values = kiali_values(prod)
    assert values["auth"] == {
        "strategy": "openid",
        "openid": {
            "issuer_uri": "https://sso.example.com/realms/platform",
            "client_id": "kiali",
            "username_claim": "sub",
            "scopes": ["openid", "profile", "email"],
        },
    }
    assert values["external_services"]["prometheus"] == {
        "url": "http://prometheus-server.monitoring.svc.cluster.local:80"
    }
    assert values["external_services"]["tracing"] == {"enabled": False}
    assert values["deployment"] == {"ingress": {"enabled": True, "class_name": "nginx"}}
    assert values["server"] == {"web_root": "/kiali", "web_fqdn": "kiali.example.com"}


def test_signing_key_is_generated_secret_and_stable(shipped: Run) -> None:
    release = shipped.named("kiali-release")
    key = release.inputs["values"]["login_token"]["signing_key"]
    assert key in shipped.secret_values, "the key must be the generated secret, not a literal"
    assert shipped.named("kiali-signing-key").inputs["length"] == 32
    assert shipped.named("kiali-signing-key").inputs["special"] is False
    assert "values" in release.secret_inputs
    assert "kiali-signing-key" in release.dependency_names
    assert kiali_values(run_stack("dev")) == kiali_values(run_stack("dev")), "rendered config must not churn"


def test_configured_signing_key_is_used_and_checked_for_length() -> None:
    key = "k" * 24
    run = run_stack("prod", secrets={"kialiSigningKey": key})
    assert run.maybe("kiali-signing-key") is None
    assert kiali_values(run)["login_token"]["signing_key"] == key
    assert "values" in run.named("kiali-release").secret_inputs
    with pytest.raises(SettingsError) as caught:
        run_stack("prod", secrets={"kialiSigningKey": "too-short"})
    assert [str(p) for p in caught.value.problems] == [
        "mesh-tracing:kialiSigningKey: got '<secret>' — must be exactly 16, 24 or 32 characters long"
    ]


def test_oidc_client_secret_becomes_the_secret_kiali_reads() -> None:
    run = run_stack("prod", secrets={"kialiOidcClientSecret": "client-secret-value"})
    secret = run.named("kiali-oidc-secret")
    assert secret.inputs["metadata"] == {"name": "kiali", "namespace": "istio-system"}
    assert secret.inputs["stringData"] == {"oidc-secret": "client-secret-value"}
    assert "stringData" in secret.secret_inputs
    assert run_stack("prod").maybe("kiali-oidc-secret") is None


def test_deployed_prometheus_is_pinned_and_minimal(dev: Run) -> None:
    prometheus = dev.named("kiali-prometheus")
    assert release_pin(dev, "kiali-prometheus") == {
        "chart": "prometheus",
        "version": "29.27.0",
        "name": "prometheus",
        "namespace": "istio-system",
        "repositoryOpts": {"repo": "https://prometheus-community.github.io/helm-charts"},
    }
    assert prometheus.inputs["values"] == {
        "alertmanager": {"enabled": False},
        "kube-state-metrics": {"enabled": False},
        "prometheus-node-exporter": {"enabled": False},
        "prometheus-pushgateway": {"enabled": False},
        "server": {"retention": "2d", "persistentVolume": {"size": "8Gi"}},
    }
    assert "kiali-prometheus" in dev.named("kiali-release").dependency_names


def test_external_prometheus_deploys_none(prod: Run) -> None:
    assert prod.maybe("kiali-prometheus") is None
    assert prod.outputs["prometheusUrl"] == "http://prometheus-server.monitoring.svc.cluster.local:80"


def test_prometheus_choice_both_ways_on_one_stack() -> None:
    kiali = raw_settings("prod")["kiali"] | {"prometheus": {"mode": "deploy"}}
    run = run_stack("prod", {"kiali": kiali})
    assert run.named("kiali-prometheus").inputs["namespace"] == "istio-system"
    assert kiali_values(run)["external_services"]["prometheus"] == {
        "url": "http://prometheus-server.istio-system.svc.cluster.local:80"
    }


def test_no_signoz_link_without_a_url() -> None:
    kiali = {k: v for k, v in raw_settings("dev")["kiali"].items() if k != "signozUrl"}
    run = run_stack("dev", {"kiali": kiali})
    assert "additional_display_details" not in kiali_values(run)
    assert run.outputs["signozLinkTemplate"] is None


def test_kiali_can_be_switched_off() -> None:
    run = run_stack("dev", {"kiali": {"enabled": False}})
    assert not [r for r in run if r.name.startswith("kiali")]
    assert run.outputs["kialiService"] is None


def test_outputs(dev: Run, prod: Run) -> None:
    assert dev.outputs["kialiService"] == "kiali.istio-system.svc.cluster.local:20001"
    assert dev.outputs["kialiUrl"] is None
    assert prod.outputs["kialiUrl"] == "http://kiali.example.com/kiali"
    assert prod.outputs["signozLinkTemplate"] == "https://signoz.example.com/services/<app>.<namespace>"


@pytest.mark.parametrize(
    ("kiali", "key", "fragment"),
    [
        ({"auth": {"strategy": "anonymous"}}, "mesh-tracing:kiali.auth.strategy", "allowAnonymousInProduction"),
        ({"signozUrl": "signoz"}, "mesh-tracing:kiali.signozUrl", "absolute http:// or https:// URL"),
        ({"auth": {"strategy": "openid"}}, "mesh-tracing:kiali.auth", "needs auth.openid"),
        ({"auth": {"strategy": "basic"}}, "mesh-tracing:kiali.auth.strategy", "'anonymous', 'token' or 'openid'"),
        ({"prometheus": {"mode": "deploy", "url": "http://p:9090"}}, "mesh-tracing:kiali.prometheus", "only used"),
    ],
)
def test_config_errors(kiali: dict[str, Any], key: str, fragment: str) -> None:
    with pytest.raises(SettingsError) as caught:
        run_stack("prod", {"kiali": kiali})
    [problem] = caught.value.problems
    assert problem.key == key
    assert fragment in str(problem)


def test_restated_display_details_are_the_charts_own() -> None:
    facts = upstream.chart(ChartId.KIALI, CHARTS[ChartId.KIALI].default_version)
    assert facts["additional_display_details"] == CHART_DISPLAY_DETAILS


def test_deployed_prometheus_keeps_the_pod_scrape_job_on(dev: Run) -> None:
    """Kiali's graph depends on the chart's `kubernetes-pods` job (sidecars' prometheus.io annotations)."""
    facts = upstream.chart(ChartId.PROMETHEUS, CHARTS[ChartId.PROMETHEUS].default_version)
    assert facts["scrape_jobs"]["kubernetes-pods"] is True
    assert "scrapeConfigs" not in dev.named("kiali-prometheus").inputs["values"], "the default jobs are kept as is"
