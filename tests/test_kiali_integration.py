"""KialiIntegration: auth per environment, a real Prometheus, a SigNoz link and no broken tracing."""

from __future__ import annotations

from typing import Any

import pytest

from config.problems import SettingsError
from meshtools.recording import Run, changed_resources, fake_secret
from tests.conftest import raw_settings, run_test_stack, stack_run
from tests.support import upstream
from versions.table import CHARTS, ChartId

SIGNOZ_LINK = {"title": "Traces in SigNoz", "annotation": "mesh-tracing.io/signoz-traces"}
CHART_LINK = {"title": "API Documentation", "annotation": "kiali.io/api-spec", "icon_annotation": "kiali.io/api-type"}
HARDENED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def kiali_values(run: Run) -> dict[str, Any]:
    values: dict[str, Any] = run.named("kiali-release").inputs["values"]
    return values


def test_release_is_pinned_in_the_istio_namespace_after_istiod(any_test_stack: str) -> None:
    release = stack_run(any_test_stack).named("kiali-release")
    chart = CHARTS[ChartId.KIALI]
    assert (release.inputs["chart"], release.inputs["version"], release.inputs["name"]) == (
        chart.name,
        chart.default_version,
        "kiali",
    )
    assert release.inputs["namespace"] == "istio-system"
    assert release.inputs["repositoryOpts"] == {"repo": chart.repository}
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
    # No ingress; the chart's own NetworkPolicy stays (dev runs none of the program's).
    assert values["deployment"] == {
        "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "1Gi"}}
    }


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
    assert values["deployment"] == {
        "ingress": {"enabled": True, "class_name": "nginx"},
        "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "1Gi"}},
        # Production runs the program's NetworkPolicies: the chart's (any pod to Kiali's ports) is off.
        "network_policy": {"enabled": False},
    }
    assert values["server"] == {"web_root": "/kiali", "web_fqdn": "kiali.example.com"}


def test_signing_key_is_the_generated_secret(dev: Run) -> None:
    release = dev.named("kiali-release")
    key = release.inputs["values"]["login_token"]["signing_key"]
    generated = dev.state[("random:index/randomPassword:RandomPassword", "kiali-signing-key")][1]["result"]
    assert key == generated, "the key must be the generated secret, not a literal (or empty: the chart regenerates)"
    assert dev.named("kiali-signing-key").inputs["length"] == 32
    assert dev.named("kiali-signing-key").inputs["special"] is False
    assert "values" in release.secret_inputs
    assert "kiali-signing-key" in release.dependency_names


def test_signing_key_does_not_churn(dev: Run) -> None:
    """The mock makes a new random value on every create; a key kept in state leaves Kiali alone."""
    assert changed_resources(dev, run_test_stack("dev", previous=dev)) == {}
    fresh = run_test_stack("dev")
    assert kiali_values(fresh)["login_token"] != kiali_values(dev)["login_token"], "the mock must not be constant"


def test_configured_signing_key_is_used_and_checked_for_length(edge: Run) -> None:
    assert edge.maybe("kiali-signing-key") is None
    assert kiali_values(edge)["login_token"]["signing_key"] == fake_secret("mesh-tracing:kialiSigningKey")
    assert "values" in edge.named("kiali-release").secret_inputs
    with pytest.raises(SettingsError) as caught:
        run_test_stack("dev", secrets={"kialiSigningKey": "too-short"})
    assert [str(p) for p in caught.value.problems] == [
        "mesh-tracing:kialiSigningKey: got '<secret>' — must be exactly 16, 24 or 32 characters long"
    ]


def test_oidc_client_secret_becomes_the_secret_kiali_reads(prod: Run, dev: Run) -> None:
    secret = prod.named("kiali-oidc-secret")
    assert secret.inputs["metadata"] == {"name": "kiali", "namespace": "istio-system"}
    assert secret.inputs["stringData"] == {"oidc-secret": fake_secret("mesh-tracing:kialiOidcClientSecret")}
    assert "stringData" in secret.secret_inputs
    assert "kiali-oidc-secret" in prod.named("kiali-release").dependency_names, "Kiali reads it at start-up"
    assert dev.maybe("kiali-oidc-secret") is None


def test_deployed_prometheus_is_pinned_and_minimal(dev: Run) -> None:
    prometheus = dev.named("kiali-prometheus")
    chart = CHARTS[ChartId.PROMETHEUS]
    assert {k: prometheus.inputs[k] for k in ("chart", "version", "name", "namespace", "repositoryOpts")} == {
        "chart": chart.name,
        "version": chart.default_version,
        "name": "prometheus",
        "namespace": "istio-system",
        "repositoryOpts": {"repo": chart.repository},
    }
    assert prometheus.inputs["values"] == {
        "alertmanager": {"enabled": False},
        "kube-state-metrics": {"enabled": False},
        "prometheus-node-exporter": {"enabled": False},
        "prometheus-pushgateway": {"enabled": False},
        "server": {
            "retention": "2d",
            "persistentVolume": {"size": "8Gi"},
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "2Gi"}},
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65534,
                "runAsGroup": 65534,
                "fsGroup": 65534,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containerSecurityContext": HARDENED_CONTAINER,
        },
        "configmapReload": {
            "prometheus": {
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
                "containerSecurityContext": HARDENED_CONTAINER,
            }
        },
    }
    assert "kiali-prometheus" in dev.named("kiali-release").dependency_names


def test_external_prometheus_deploys_none(prod: Run) -> None:
    assert prod.maybe("kiali-prometheus") is None
    assert prod.outputs["prometheusUrl"] == "http://prometheus-server.monitoring.svc.cluster.local:80"


def test_prometheus_choice_both_ways_on_one_stack() -> None:
    kiali = raw_settings("prod")["kiali"] | {"prometheus": {"mode": "deploy"}}
    run = run_test_stack("prod", {"kiali": kiali})
    assert run.named("kiali-prometheus").inputs["namespace"] == "istio-system"
    assert kiali_values(run)["external_services"]["prometheus"] == {
        "url": "http://prometheus-server.istio-system.svc.cluster.local:80"
    }


def test_deployed_prometheus_sizing(edge: Run) -> None:
    server = edge.named("kiali-prometheus").inputs["values"]["server"]
    assert {k: server[k] for k in ("retention", "persistentVolume")} == {
        "retention": "12h",
        "persistentVolume": {"size": "2Gi"},
    }


def test_no_signoz_link_without_a_url(edge: Run) -> None:
    assert "additional_display_details" not in kiali_values(edge)
    assert edge.outputs["signozLinkTemplate"] is None
    assert kiali_values(edge)["auth"] == {"strategy": "token"}


def test_kiali_can_be_switched_off() -> None:
    run = run_test_stack("dev", {"kiali": {"enabled": False}})
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
        ({"auth": {"strategy": "anonymous"}}, "mesh-tracing:kiali.auth.strategy", "must be 'token' or 'openid'"),
        ({"signozUrl": "signoz"}, "mesh-tracing:kiali.signozUrl", "absolute http:// or https:// URL"),
        ({"auth": {"strategy": "openid"}}, "mesh-tracing:kiali.auth.openid", "required with strategy 'openid'"),
        (
            {"auth": {"strategy": "basic"}},
            "mesh-tracing:kiali.auth.strategy",
            "must be 'token', 'anonymous' or 'openid'",
        ),
        (
            {"prometheus": {"mode": "deploy", "url": "http://p:9090"}},
            "mesh-tracing:kiali.prometheus.url",
            "external mode only",
        ),
    ],
)
def test_config_errors(kiali: dict[str, Any], key: str, fragment: str) -> None:
    with pytest.raises(SettingsError) as caught:
        run_test_stack("prod", {"kiali": kiali})
    [problem] = caught.value.problems
    assert problem.key == key
    assert fragment in str(problem)


def test_deployed_prometheus_keeps_the_pod_scrape_job_on(dev: Run) -> None:
    """Kiali's graph depends on the chart's `kubernetes-pods` job (sidecars' prometheus.io annotations)."""
    facts = upstream.chart(ChartId.PROMETHEUS, CHARTS[ChartId.PROMETHEUS].default_version)
    assert facts["scrape_jobs"]["kubernetes-pods"] is True
    assert "scrapeConfigs" not in dev.named("kiali-prometheus").inputs["values"], "the default jobs are kept as is"
