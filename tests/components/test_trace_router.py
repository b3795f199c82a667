"""TraceRouter built alone from its Args: what it registers (golden files per scenario) and its wiring:
least privilege for its resolver, the Deployment after what it mounts and runs as, a rollout on every
config change, a PDB only with replicas to spare."""

from __future__ import annotations

import hashlib

import pytest
import yaml

from components.trace_router import TraceRouter
from tests.components.builders import mesh_processing, trace_router_args
from tests.components.scenarios import SCENARIOS, recorded
from tests.support.components import children_of, outside_the_tree, record

ROUTER = "signoz-trace-router"


@pytest.mark.parametrize("scenario", SCENARIOS["trace_router"])
def test_every_resource_is_its_own_child_in_the_namespace_given(scenario: str) -> None:
    router = recorded("trace_router", scenario)
    assert outside_the_tree(router) == [] and children_of(router) == router.resources
    assert {r.inputs["metadata"]["namespace"] for r in router.resources} == {"signoz"}


def test_the_resolver_may_read_endpoint_slices_and_nothing_else() -> None:
    router = recorded("trace_router", "two_replicas")
    assert router.named("router-role").inputs["rules"] == [
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]}
    ]
    binding = router.named("router-role-binding").inputs
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROUTER}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": ROUTER, "namespace": "signoz"}]
    assert router.named("router-service-account").inputs["metadata"]["name"] == ROUTER
    pod = router.named("router-deployment").inputs["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == ROUTER
    [container] = pod["containers"]
    assert container["args"] == ["--config=/conf/config.yaml"], "no OpAMP manager config"


def test_the_deployment_starts_after_what_it_runs_as_and_mounts() -> None:
    deployment = recorded("trace_router", "two_replicas").named("router-deployment")
    assert deployment.dependency_names >= {
        "router-service-account",
        "router-role",
        "router-role-binding",
        "router-config",
    }


def test_the_router_hands_each_trace_to_the_collector_of_its_namespace() -> None:
    args = trace_router_args(namespace="observability")
    router = record(lambda: TraceRouter("router", args, "observability"))
    config = yaml.safe_load(router.named("router-config").inputs["data"]["config.yaml"])
    exporter = config["exporters"]["loadbalancing"]
    assert exporter["routing_key"] == "traceID"
    assert exporter["resolver"]["k8s"]["service"] == "signoz-otel-collector.observability"
    assert router.outputs["service"] == f"{ROUTER}.observability.svc.cluster.local:9411"


def test_a_new_config_rolls_the_pods() -> None:
    """A mounted ConfigMap is read only at start: its checksum is in the pod template."""

    def checksum_and_config(environment: str) -> tuple[str, str]:
        args = trace_router_args(mesh=mesh_processing(environment=environment))
        router = record(lambda: TraceRouter("router", args, "signoz"))
        template = router.named("router-deployment").inputs["spec"]["template"]
        return template["metadata"]["annotations"]["checksum/config"], router.named("router-config").inputs["data"][
            "config.yaml"
        ]

    (before, config), (after, _) = checksum_and_config("test"), checksum_and_config("staging")
    assert before == hashlib.sha256(config.encode()).hexdigest()
    assert before != after


def test_a_pdb_only_with_replicas_to_spare() -> None:
    assert recorded("trace_router", "two_replicas").named("router-pdb").inputs["spec"]["maxUnavailable"] == 1
    assert recorded("trace_router", "one_replica").maybe("router-pdb") is None


def test_reports_its_service_and_deployment() -> None:
    router = recorded("trace_router", "two_replicas")
    assert router.outputs == {"service": f"{ROUTER}.signoz.svc.cluster.local:9411", "deployment": ROUTER}
    assert router.component.service == router.outputs["service"]
