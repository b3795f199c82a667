"""Pods with no more than they need: security contexts set through chart values, and the Pod Security
Admission level of every namespace the program creates.

With `security.hardenedPods` (the default) every pod whose chart offers the values runs non-root, with
seccomp `RuntimeDefault`, without privilege escalation and with every capability dropped; the root
filesystem is read-only where the image is known to write nowhere else (the collector's only write,
its working copy of the config under /var/tmp, gets an emptyDir). Each user below is the image's own
(or, for an image that names none, one that owns nothing in it), so files the image ships stay
readable. Where a chart offers no value the pod keeps the chart's default: docs/security.md lists
each of those gaps, and the scanner's waiver file names them.

A namespace's `pod-security.kubernetes.io/enforce` label is the strictest level its pods meet
(tests/support/pod_security.py checks that over the rendered pods). Namespaces with sidecars are
`privileged`: the injected istio-init container adds NET_ADMIN and NET_RAW and runs as root, which
even the baseline level refuses; the label is set explicitly so a stricter cluster default does not
refuse the mesh's pods.
"""

from __future__ import annotations

import enum
from typing import Any

ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
RUNTIME_DEFAULT = {"type": "RuntimeDefault"}

# The users the pods run as (and own their volumes as).
SIGNOZ_USER = 10001  # signoz/signoz names no user; its files under /root are world-readable (mode 755)
COLLECTOR_USER = 10001  # the signoz-otel-collector image's USER (also the schema migrator's image)
CLICKHOUSE_USER = 101  # the clickhouse-server image's clickhouse user (the chart's default)
OPERATOR_USER = 65534  # nobody, the clickhouse-operator image's USER
ZOOKEEPER_USER = 1001  # the zookeeper image's user, which owns its config directory (the chart's default)
PROMETHEUS_USER = 65534  # nobody (the prometheus chart's default)
AGENT_USER = 10001  # the opentelemetry-collector-contrib image's USER (10001:10001, FROM scratch)
# The collector writes its working config copy (and its rollback) there (`--copy-path`).
COLLECTOR_SCRATCH = "/var/tmp"
COLLECTOR_SCRATCH_VOLUME = "scratch"


class Level(enum.StrEnum):
    """Pod Security Standards levels, loosest first."""

    PRIVILEGED = "privileged"
    BASELINE = "baseline"
    RESTRICTED = "restricted"


def namespace_labels(level: Level) -> dict[str, str]:
    return {ENFORCE_LABEL: level.value}


# --------------------------------------------------------------------------- security contexts


def pod_context(user: int, *, fs_group: bool = True) -> dict[str, Any]:
    """A pod's security context: a fixed non-root user and group (and volume group), seccomp."""
    context: dict[str, Any] = {"runAsNonRoot": True, "runAsUser": user, "runAsGroup": user}
    if fs_group:
        context["fsGroup"] = user
    return context | {"seccompProfile": RUNTIME_DEFAULT}


def container_context(*, read_only: bool) -> dict[str, Any]:
    """A container's security context: no escalation, no capabilities, seccomp, and a read-only root
    filesystem when the image allows it."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": read_only,
        "runAsNonRoot": True,
        "seccompProfile": RUNTIME_DEFAULT,
    }


def collector_scratch(hardened: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, mounts) the hardened collector writes to under its read-only root filesystem."""
    if not hardened:
        return [], []
    return (
        [{"name": COLLECTOR_SCRATCH_VOLUME, "emptyDir": {}}],
        [{"name": COLLECTOR_SCRATCH_VOLUME, "mountPath": COLLECTOR_SCRATCH}],
    )


def signoz_contexts(hardened: bool) -> dict[str, Any]:
    """The signoz chart's security values. The chart offers none for the schema-migration Job, the
    collector's init container, or the ClickHouse and operator containers (pod level only)."""
    if not hardened:
        return {}
    zookeeper_container = container_context(read_only=False) | {"runAsUser": ZOOKEEPER_USER}
    return {
        "signoz": {
            "podSecurityContext": pod_context(SIGNOZ_USER),
            # Not verified read-only: the image's working directory is /root.
            "securityContext": container_context(read_only=False),
        },
        "otelCollector": {
            "podSecurityContext": pod_context(COLLECTOR_USER),
            "securityContext": container_context(read_only=True),
        },
        "clickhouse": {
            # The pod template's context (`enabled` is the chart's switch, dropped when rendered).
            "securityContext": {"enabled": True, "fsGroupChangePolicy": "OnRootMismatch"}
            | pod_context(CLICKHOUSE_USER),
            "clickhouseOperator": {"podSecurityContext": pod_context(OPERATOR_USER, fs_group=False)},
            "zookeeper": {
                "podSecurityContext": {"enabled": True, "fsGroup": ZOOKEEPER_USER, "seccompProfile": RUNTIME_DEFAULT},
                # Not read-only: the image writes its configuration at start.
                "containerSecurityContext": {"enabled": True} | zookeeper_container,
            },
        },
    }


def agent_contexts(hardened: bool) -> dict[str, Any]:
    """The k8s-infra agent's security values: its image's user, declared (the image is built FROM
    scratch and writes nothing)."""
    if not hardened:
        return {}
    return {
        "otelAgent": {
            "podSecurityContext": pod_context(AGENT_USER, fs_group=False),
            "securityContext": container_context(read_only=True),
        }
    }


def prometheus_contexts(hardened: bool) -> dict[str, Any]:
    """The deployed Prometheus server and its config reloader (both write only to the server's volume)."""
    if not hardened:
        return {}
    return {
        "server": {
            "securityContext": pod_context(PROMETHEUS_USER),
            "containerSecurityContext": container_context(read_only=True),
        },
        "configmapReload": {"prometheus": {"containerSecurityContext": container_context(read_only=True)}},
    }


def istiod_contexts(hardened: bool) -> dict[str, Any]:
    """istiod's chart already runs it non-root without capabilities; seccomp is a value of its own."""
    return {"seccompProfile": RUNTIME_DEFAULT} if hardened else {}


# The gateway chart's own pod securityContext, which a value replaces as a whole: gateways bind
# ports below 1024 without NET_BIND_SERVICE.
GATEWAY_SYSCTLS = [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]


def gateway_contexts(hardened: bool) -> dict[str, Any]:
    """The gateway pods' seccomp profile, next to the chart's own sysctl."""
    if not hardened:
        return {}
    return {"securityContext": {"sysctls": GATEWAY_SYSCTLS, "seccompProfile": RUNTIME_DEFAULT}}


# --------------------------------------------------------------------------- Pod Security levels


def signoz_namespace_level(remote: bool) -> Level:
    """The SigNoz namespace. Deploy mode: baseline, since the chart offers no container security
    values for the schema-migration Job, the collector's init container, ClickHouse and the operator
    (restricted needs them). Remote mode: privileged, since the k8s-infra agent mounts node paths
    (/var/log) whatever its presets."""
    return Level.PRIVILEGED if remote else Level.BASELINE


def istio_namespace_level(hardened: bool) -> Level:
    """istiod, Kiali and the deployed Prometheus meet restricted once seccomp is set."""
    return Level.RESTRICTED if hardened else Level.BASELINE


def gateway_namespace_level(hardened: bool) -> Level:
    """Gateway pods are injected without istio-init: restricted once seccomp is set."""
    return Level.RESTRICTED if hardened else Level.BASELINE


MESHED_LEVEL = Level.PRIVILEGED
