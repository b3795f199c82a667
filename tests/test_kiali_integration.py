"""KialiIntegration in the whole program: a configured signing key is used and checked, the deployed
Prometheus sits in the Istio namespace Kiali reads, Kiali can be switched off, wrong settings are named.

KialiIntegration's own behaviour is tested on the component alone (tests/components/test_kiali_integration.py)."""

from __future__ import annotations

from typing import Any

import pytest

from config.problems import SettingsError
from meshtools.recording import Run, fake_secret
from tests.conftest import raw_settings, run_test_stack


def kiali_values(run: Run) -> dict[str, Any]:
    values: dict[str, Any] = run.named("kiali-release").inputs["values"]
    return values


def test_configured_signing_key_is_used_and_checked_for_length(edge: Run) -> None:
    assert edge.maybe("kiali-signing-key") is None
    assert kiali_values(edge)["login_token"]["signing_key"] == fake_secret("mesh-tracing:kialiSigningKey")
    assert "values" in edge.named("kiali-release").secret_inputs
    with pytest.raises(SettingsError) as caught:
        run_test_stack("dev", secrets={"kialiSigningKey": "too-short"})
    assert [str(p) for p in caught.value.problems] == [
        "mesh-tracing:kialiSigningKey: got '<secret>' — must be exactly 16, 24 or 32 characters long"
    ]


def test_prometheus_choice_both_ways_on_one_stack() -> None:
    kiali = raw_settings("prod")["kiali"] | {"prometheus": {"mode": "deploy"}}
    run = run_test_stack("prod", {"kiali": kiali})
    assert run.named("kiali-prometheus").inputs["namespace"] == "istio-system"
    assert kiali_values(run)["external_services"]["prometheus"] == {
        "url": "http://prometheus-server.istio-system.svc.cluster.local:80"
    }


def test_kiali_can_be_switched_off() -> None:
    run = run_test_stack("dev", {"kiali": {"enabled": False}})
    assert not [r for r in run if r.name.startswith("kiali")]
    assert run.outputs["kialiService"] is None


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
