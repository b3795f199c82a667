"""Pods with no more than they need, checked on the rendered pods; Pod Security labels checked against
the Pod Security Standards over the rendered pods of each namespace.

The gaps (containers a chart offers no security value for) are listed here by name, as in
docs/security.md and the scanner's waiver file: a chart that starts offering one, or a value that
stops reaching its pod, changes the list and fails the test.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from kube.tree import dig
from meshtools import yamlio
from meshtools.manifests import Manifest
from tests.conftest import TEST_STACK_NAMES, stack_run
from tests.support.network_policy import Pod, pods_of
from tests.support.pod_security import (
    LEVELS,
    baseline_violations,
    restricted_violations,
    strictest_level,
)
from tests.support.rendered import rendered_objects

ENFORCE = "pod-security.kubernetes.io/enforce"
SIGNOZ_WORKLOADS = (
    "StatefulSet signoz/signoz",
    "Deployment signoz/signoz-otel-collector",
    "Deployment signoz/signoz-clickhouse-operator",
    "Job signoz/signoz-telemetrystore-migrator",
    "StatefulSet signoz/signoz-zookeeper",
    "ClickHouseInstallation signoz/signoz-clickhouse",
)
# Containers whose chart offers no container-level security value: they keep privilege escalation
# and the runtime's default capabilities (docs/security.md, Known gaps).
NO_CONTAINER_VALUES = {
    ("Job signoz/signoz-telemetrystore-migrator", "ready"),
    ("Job signoz/signoz-telemetrystore-migrator", "bootstrap"),
    ("Job signoz/signoz-telemetrystore-migrator", "sync"),
    ("Job signoz/signoz-telemetrystore-migrator", "async"),
    ("Deployment signoz/signoz-otel-collector", "check"),
    ("Deployment signoz/signoz-clickhouse-operator", "operator"),
    ("Deployment signoz/signoz-clickhouse-operator", "metrics-exporter"),
    ("ClickHouseInstallation signoz/signoz-clickhouse", "signoz-clickhouse-udf-init"),
    ("ClickHouseInstallation signoz/signoz-clickhouse", "clickhouse"),
}
# The Job has no pod-level value either: it runs as its image's user, undeclared.
NO_POD_VALUES = {"Job signoz/signoz-telemetrystore-migrator"}
READ_ONLY_ROOT = {
    ("Deployment signoz/signoz-otel-collector", "collector"),
    ("Deployment istio-system/kiali", "kiali"),
    ("Deployment istio-system/istiod", "discovery"),
    ("Deployment istio-ingress/istio-ingress", "istio-proxy"),
}


@functools.cache
def rendered(stack: str) -> tuple[Manifest, ...]:
    return tuple(rendered_objects(stack_run(stack)))


def containers(pod: Pod) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for key in ("initContainers", "containers"):
        for container in pod.spec.get(key) or []:
            yield str(container["name"]), container


def effective(pod: Pod, container: Mapping[str, Any], *path: str) -> Any:
    """A security setting as the kubelet applies it: the container's, else the pod's."""
    own = dig(container, "securityContext", *path)
    return own if own is not None else dig(pod.spec, "securityContext", *path)


def signoz_pods(stack: str = "prod") -> list[Pod]:
    return [p for p in pods_of(rendered(stack)) if p.workload in SIGNOZ_WORKLOADS]


# --------------------------------------------------------------------------- SigNoz's workloads (prod)


def test_every_signoz_workload_is_rendered() -> None:
    assert sorted(p.workload for p in signoz_pods()) == sorted(SIGNOZ_WORKLOADS)


def test_signoz_pods_run_non_root_with_seccomp_where_the_chart_allows() -> None:
    for pod in signoz_pods():
        for name, container in containers(pod):
            if pod.workload in NO_POD_VALUES:
                assert effective(pod, container, "runAsNonRoot") is None, "a gap the chart closed?"
                continue
            assert effective(pod, container, "runAsNonRoot") is True, (pod.workload, name)
            assert effective(pod, container, "runAsUser") not in (None, 0), (pod.workload, name)
            assert effective(pod, container, "seccompProfile", "type") == "RuntimeDefault", (pod.workload, name)


def test_no_privilege_escalation_and_no_capabilities_where_the_chart_allows() -> None:
    open_containers = set()
    for pod in signoz_pods():
        for name, container in containers(pod):
            escalation = dig(container, "securityContext", "allowPrivilegeEscalation")
            dropped = dig(container, "securityContext", "capabilities", "drop") or []
            if escalation is not False or "ALL" not in dropped:
                open_containers.add((pod.workload, name))
    assert open_containers == NO_CONTAINER_VALUES


def test_read_only_root_filesystem_where_the_image_allows_it() -> None:
    found = {
        (pod.workload, name)
        for pod in pods_of(rendered("prod"))
        for name, container in containers(pod)
        if dig(container, "securityContext", "readOnlyRootFilesystem") is True
    }
    assert found == READ_ONLY_ROOT
    [collector] = [p for p in signoz_pods() if p.workload == "Deployment signoz/signoz-otel-collector"]
    [main] = [c for name, c in containers(collector) if name == "collector"]
    scratch = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    assert scratch["scratch"] == "/var/tmp", "its working copy of the config (--copy-path /var/tmp/…)"
    assert {"name": "scratch", "emptyDir": {}} in collector.spec["volumes"]


def test_every_signoz_container_has_a_memory_limit_but_the_clickhouse_init() -> None:
    unlimited = {
        (pod.workload, name)
        for pod in signoz_pods()
        for name, container in containers(pod)
        if dig(container, "resources", "limits", "memory") is None
    }
    # The clickhouse chart renders the UDF init container without resources.
    assert unlimited == {("ClickHouseInstallation signoz/signoz-clickhouse", "signoz-clickhouse-udf-init")}


def test_memory_limits_come_from_the_settings() -> None:
    limits = {
        (pod.workload, name): dig(container, "resources", "limits", "memory")
        for pod in pods_of(rendered("prod"))
        for name, container in containers(pod)
    }
    assert {
        key: limits[key]
        for key in [
            ("StatefulSet signoz/signoz", "signoz"),
            ("Deployment signoz/signoz-clickhouse-operator", "operator"),
            ("Deployment signoz/signoz-clickhouse-operator", "metrics-exporter"),
            ("Job signoz/signoz-telemetrystore-migrator", "sync"),
            ("Deployment signoz/signoz-otel-collector", "check"),
            ("StatefulSet signoz/signoz-zookeeper", "zookeeper"),
            ("ClickHouseInstallation signoz/signoz-clickhouse", "clickhouse"),
            ("Deployment istio-system/kiali", "kiali"),
        ]
    } == {
        ("StatefulSet signoz/signoz", "signoz"): "1Gi",
        ("Deployment signoz/signoz-clickhouse-operator", "operator"): "256Mi",
        ("Deployment signoz/signoz-clickhouse-operator", "metrics-exporter"): "256Mi",
        ("Job signoz/signoz-telemetrystore-migrator", "sync"): "512Mi",
        ("Deployment signoz/signoz-otel-collector", "check"): "512Mi",
        ("StatefulSet signoz/signoz-zookeeper", "zookeeper"): "1536Mi",
        ("ClickHouseInstallation signoz/signoz-clickhouse", "clickhouse"): "16Gi",  # the prod stack's own
        ("Deployment istio-system/kiali", "kiali"): "1Gi",
    }


def test_prometheus_runs_hardened_where_it_is_deployed() -> None:
    [prometheus] = [p for p in pods_of(rendered("edge")) if p.workload == "Deployment istio-system/prometheus-server"]
    assert restricted_violations(prometheus.spec) == []
    assert {name: dig(c, "resources", "limits", "memory") for name, c in containers(prometheus)} == {
        "prometheus-server-configmap-reload": "64Mi",
        "prometheus-server": "2Gi",
    }


def test_unhardened_pods_keep_the_charts_defaults() -> None:
    """security.hardenedPods off (the demo test stack): no value of the program's reaches the pods."""
    pods = {p.workload: p for p in pods_of(rendered("demo"))}
    assert dig(pods["StatefulSet signoz/signoz"].spec, "securityContext") == {}
    assert strictest_level(pods["Deployment istio-system/istiod-canary"].spec) == "baseline", "no seccomp"
    assert "scratch" not in {v["name"] for v in pods["Deployment signoz/signoz-otel-collector"].spec["volumes"]}


# --------------------------------------------------------------------------- Pod Security labels


def created_namespaces(stack: str) -> dict[str, str | None]:
    """The namespaces the program creates, with their enforce label (a NamespacePatch only labels)."""
    return {
        m.key[2]: (dig(m.object, "metadata", "labels") or {}).get(ENFORCE)
        for m in rendered(stack)
        if m.key[1] == "Namespace" and "patch" not in m.origin
    }


def injectors(stack: str) -> list[dict[str, Any]]:
    """The injector ConfigMap of each control plane (`istio-sidecar-injector[-<revision>]`)."""
    return [
        m.object for m in rendered(stack) if m.key[1] == "ConfigMap" and m.key[2].startswith("istio-sidecar-injector")
    ]


def injector_sidecar_template(stack: str) -> str:
    """The sidecar template of the stack's first control plane (each adds istio-init alike)."""
    [first, *_] = [str(yamlio.load(found["data"]["config"])["templates"]["sidecar"]) for found in injectors(stack)]
    return first


def injected_init_container(stack: str) -> dict[str, Any]:
    """istio-init as the rendered injector adds it to every pod of a sidecar namespace (without CNI)."""
    template = injector_sidecar_template(stack)
    start = template.index("- name: istio-init")
    block = template[start : template.index("\n  containers:", start)]  # up to the pod's own containers
    added = re.search(r"add:\s*\n\s*- (\w+)\s*\n\s*- (\w+)", block)
    assert added is not None, "the rendered template adds no capability to istio-init"
    run_as = re.search(r"runAsUser: (\d+)", block)
    assert run_as is not None
    return {
        "name": "istio-init",
        "securityContext": {
            "capabilities": {"add": list(added.groups()), "drop": ["ALL"]},
            "runAsUser": int(run_as[1]),
        },
    }


def is_meshed(stack: str, namespace: str) -> bool:
    """A namespace the program labels for sidecar injection."""
    [manifest] = [m for m in rendered(stack) if m.key == ("", "Namespace", namespace) and "patch" not in m.origin]
    labels = dig(manifest.object, "metadata", "labels") or {}
    return labels.get("istio-injection") == "enabled" or "istio.io/rev" in labels


@pytest.mark.parametrize("stack", TEST_STACK_NAMES)
def test_each_namespace_is_labelled_with_the_strictest_level_its_pods_meet(stack: str) -> None:
    labels = created_namespaces(stack)
    pods = pods_of(rendered(stack))
    checked = 0
    for namespace, label in labels.items():
        assert label in LEVELS, f"{stack}: namespace {namespace} has no enforce label"
        own = [p for p in pods if p.namespace == namespace]
        meshed = is_meshed(stack, namespace)
        specs = [p.spec for p in own]
        if meshed:  # every pod gets istio-init at admission, which Pod Security sees; so would any other pod
            init = injected_init_container(stack)
            specs = [{**spec, "initContainers": [init, *(spec.get("initContainers") or [])]} for spec in specs]
            specs = specs or [{"containers": [], "initContainers": [init]}]
        if not specs:
            continue
        strictest = min((strictest_level(spec) for spec in specs), key=LEVELS.index)
        assert label == strictest, f"{stack}: namespace {namespace} is labelled {label}; its pods meet {strictest}"
        checked += 1
    assert checked >= 2


def test_sidecar_namespaces_are_privileged_because_of_istio_init() -> None:
    init = injected_init_container("prod")
    assert init["securityContext"]["capabilities"]["add"] == ["NET_ADMIN", "NET_RAW"]
    assert baseline_violations({"containers": [], "initContainers": [init]}) == [
        "initContainer istio-init: adds capabilities ['NET_ADMIN', 'NET_RAW']"
    ]
    for injector in injectors("prod"):
        assert yamlio.load(injector["data"]["values"])["pilot"]["cni"]["enabled"] is False, "no Istio CNI"


# --------------------------------------------------------------------------- the checker can fail


def _pod(workload: str, stack: str = "prod") -> dict[str, Any]:
    [found] = [p for p in pods_of(rendered(stack)) if p.workload == workload]
    return copy.deepcopy(dict(found.spec))


def test_a_host_path_volume_fails_baseline() -> None:
    spec = _pod("StatefulSet signoz/signoz")
    spec["volumes"] = [*spec.get("volumes", []), {"name": "node", "hostPath": {"path": "/"}}]
    assert strictest_level(spec) == "privileged"


def test_a_kept_capability_fails_restricted() -> None:
    spec = _pod("StatefulSet signoz/signoz")
    assert strictest_level(spec) == "restricted"
    spec["containers"][0]["securityContext"]["capabilities"] = {"drop": ["NET_RAW"]}
    assert restricted_violations(spec) == ["container signoz: does not drop ALL capabilities"]


def test_root_in_one_container_fails_restricted() -> None:
    spec = _pod("StatefulSet signoz/signoz-zookeeper")
    spec["containers"][0]["securityContext"]["runAsNonRoot"] = False
    assert "container zookeeper: runAsNonRoot is not true (pod or container)" in restricted_violations(spec)


def test_an_unsafe_sysctl_or_unconfined_seccomp_fails_baseline() -> None:
    spec = _pod("Deployment istio-ingress/istio-ingress")
    spec["securityContext"]["sysctls"] = [{"name": "net.core.somaxconn", "value": "1024"}]
    assert baseline_violations(spec) == ["sysctl net.core.somaxconn is not a safe sysctl"]
    spec = _pod("Deployment istio-system/kiali")
    spec["containers"][0]["securityContext"]["seccompProfile"] = {"type": "Unconfined"}
    assert strictest_level(spec) == "privileged"
