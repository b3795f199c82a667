"""IstioMesh: the values, custom resources and ordering that reach the engine, for dev and prod."""

from __future__ import annotations

from typing import Any

import pytest

from components.istio_mesh import istiod_values, mesh_telemetry_spec
from components.settings import validate_settings
from meshtools.recording import Run, changed_resources, run_stack
from tests.conftest import raw_settings, release_pin, shipped_run

COLLECTOR = "signoz-otel-collector.signoz.svc.cluster.local"
RELEASE = "kubernetes:helm.sh/v3:Release"


def values(run: Run, name: str) -> dict[str, Any]:
    release = run.named(name)
    assert release.type == RELEASE
    result: dict[str, Any] = release.inputs["values"]
    return result


def test_istiod_mesh_config_reports_to_the_collector(shipped: Run) -> None:
    mesh = values(shipped, "mesh-istiod")["meshConfig"]
    assert mesh == {
        "extensionProviders": [
            {
                "name": "signoz",
                "zipkin": {
                    "service": COLLECTOR,
                    "port": 9411,
                    "maxTagLength": 256,
                    "traceContextOption": "USE_B3_WITH_W3C_PROPAGATION",
                },
            }
        ],
        "defaultProviders": {"metrics": ["prometheus"], "tracing": ["signoz"]},
        "defaultConfig": {"proxyStatsMatcher": {"inclusionPrefixes": ["tracing.zipkin"]}},
    }


def test_istiod_values_avoid_the_design_notes_dead_paths(shipped: Run) -> None:
    istiod = values(shipped, "mesh-istiod")
    assert istiod["global"] == {"istioNamespace": "istio-system"}  # no global.meshConfig / tracer / mtls
    assert "tracing" not in istiod["meshConfig"]["defaultConfig"]
    assert istiod["base"] == {"validationFailurePolicy": "Fail"}


def test_istiod_sizing_per_stack(dev: Run, prod: Run) -> None:
    assert {k: values(dev, "mesh-istiod")[k] for k in ("autoscaleMin", "autoscaleMax", "resources")} == {
        "autoscaleMin": 1,
        "autoscaleMax": 1,
        "resources": {"requests": {"cpu": "100m", "memory": "512Mi"}},
    }
    assert {k: values(prod, "mesh-istiod")[k] for k in ("autoscaleMin", "autoscaleMax")} == {
        "autoscaleMin": 2,
        "autoscaleMax": 5,
    }


def test_releases_are_pinned(shipped: Run) -> None:
    for name, chart, release in [
        ("mesh-base", "base", "istio-base"),
        ("mesh-istiod", "istiod", "istiod"),
    ]:
        assert release_pin(shipped, name) == {
            "chart": chart,
            "version": "1.30.5",
            "name": release,
            "namespace": "istio-system",
            "repositoryOpts": {"repo": "https://istio-release.storage.googleapis.com/charts"},
        }
        assert shipped.named(name).ignore_changes == ("checksum",)


def test_dev_telemetry_samples_everything(dev: Run) -> None:
    telemetry = dev.named("mesh-telemetry")
    assert telemetry.type == "kubernetes:telemetry.istio.io/v1:Telemetry"
    assert telemetry.inputs["metadata"] == {"name": "mesh-default", "namespace": "istio-system"}
    assert telemetry.inputs["spec"] == {
        "tracing": [
            {
                "providers": [{"name": "signoz"}],
                "randomSamplingPercentage": 100,
                "customTags": {
                    "environment": {"literal": {"value": "dev"}},
                    "cluster": {"literal": {"value": "dev-kind"}},
                },
            }
        ]
    }


def test_prod_telemetry_samples_one_percent(prod: Run) -> None:
    tracing = prod.named("mesh-telemetry").inputs["spec"]["tracing"]
    assert tracing[0]["randomSamplingPercentage"] == 1
    assert tracing[0]["customTags"]["environment"] == {"literal": {"value": "production"}}
    assert tracing[0]["customTags"]["cluster"] == {"literal": {"value": "prod-eu-west-1"}}


@pytest.mark.parametrize(("stack_name", "mode"), [("dev", "PERMISSIVE"), ("prod", "STRICT")])
def test_peer_authentication_mode(stack_name: str, mode: str) -> None:
    pa = shipped_run(stack_name).named("mesh-peer-authentication")
    assert pa.type == "kubernetes:security.istio.io/v1:PeerAuthentication"
    assert pa.inputs["metadata"] == {"name": "default", "namespace": "istio-system"}
    assert pa.inputs["spec"] == {"mtls": {"mode": mode}}


def test_ordering_through_real_dependencies(shipped: Run) -> None:
    assert shipped.named("mesh-base").dependency_names == {"mesh-namespace"}
    assert {"mesh-base"} <= shipped.named("mesh-istiod").dependency_names
    for cr in ("mesh-telemetry", "mesh-peer-authentication"):
        assert {"mesh-base", "mesh-istiod"} <= shipped.named(cr).dependency_names


def test_every_istio_child_is_parented_and_independent_of_signoz(shipped: Run) -> None:
    children = [r for r in shipped if r.parent_name == "mesh"]
    assert {r.name for r in children} >= {"mesh-base", "mesh-istiod", "mesh-telemetry", "mesh-peer-authentication"}
    for child in children:
        assert not any(dep.startswith("signoz") for dep in child.dependency_names), child.name


def test_gateway_after_istiod_in_its_own_namespace(prod: Run, dev: Run) -> None:
    gateway = prod.named("mesh-gateway")
    assert (gateway.inputs["chart"], gateway.inputs["name"], gateway.inputs["namespace"]) == (
        "gateway",
        "istio-ingress",
        "istio-ingress",
    )
    assert gateway.inputs["values"] == {"service": {"type": "LoadBalancer"}}
    assert gateway.dependency_names == {"mesh-gateway-namespace", "mesh-istiod"}
    assert prod.named("mesh-gateway-namespace").inputs["metadata"]["name"] == "istio-ingress"
    assert dev.maybe("mesh-gateway") is None


def test_outputs(prod: Run, dev: Run) -> None:
    assert {k: prod.outputs[k] for k in ("tracingProvider", "samplingPercent", "istioRootNamespace")} == {
        "tracingProvider": "signoz",
        "samplingPercent": 1,
        "istioRootNamespace": "istio-system",
    }
    assert prod.outputs["gatewayService"] == "istio-ingress.istio-ingress.svc.cluster.local"
    assert dev.outputs["gatewayService"] is None


def test_changing_sampling_changes_only_the_mesh_telemetry(stack: str, shipped: Run) -> None:
    changed = changed_resources(shipped, run_stack(stack, {"samplingPercent": 42.5}))
    assert changed == {"mesh-telemetry": "changed"}


def test_changing_mtls_changes_only_the_peer_authentication(stack: str, shipped: Run) -> None:
    changed = changed_resources(shipped, run_stack(stack, {"mtlsMode": "DISABLE"}))
    assert changed == {"mesh-peer-authentication": "changed"}


def test_revision_reaches_istiod_base_and_gateway(prod: Run) -> None:
    istio = raw_settings("prod")["istio"] | {"revision": "stable"}
    run = run_stack("prod", {"istio": istio})
    assert values(run, "mesh-istiod")["revision"] == "stable"
    assert values(run, "mesh-base")["defaultRevision"] == "stable"
    assert values(run, "mesh-gateway")["revision"] == "stable"


def test_configured_tags_follow_the_reserved_ones() -> None:
    raw = raw_settings("dev") | {
        "istio": {
            "customTags": {
                "pod": {"environment": {"name": "POD_NAME", "defaultValue": "unknown"}},
                "tenant": {"header": {"name": "x-tenant-id"}},
                "team": {"literal": {"value": "platform"}},
            }
        }
    }
    tags = mesh_telemetry_spec(validate_settings(raw))["tracing"][0]["customTags"]
    assert tags == {
        "environment": {"literal": {"value": "dev"}},
        "cluster": {"literal": {"value": "dev-kind"}},
        "pod": {"environment": {"name": "POD_NAME", "defaultValue": "unknown"}},
        "team": {"literal": {"value": "platform"}},
        "tenant": {"header": {"name": "x-tenant-id"}},
    }


def test_provider_port_and_fqdn_follow_the_signoz_namespace() -> None:
    raw = raw_settings("dev") | {"signoz": {"namespace": "observability"}}
    provider = istiod_values(validate_settings(raw))["meshConfig"]["extensionProviders"][0]
    assert provider["zipkin"]["service"] == "signoz-otel-collector.observability.svc.cluster.local"
    assert provider["zipkin"]["port"] == 9411
