"""A checker of the Pod Security Standards (baseline and restricted, "latest") over a pod spec.

Written from the standard's published rules (kubernetes.io/docs/concepts/security/pod-security-standards),
not from the program's settings, so it can tell the program's namespace labels wrong. Windows-only
and AppArmor-annotation rules are left out: no chart here sets them. Each violation is one line
naming the container or field.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
RESTRICTED_VOLUMES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
LEVELS = ("privileged", "baseline", "restricted")


def _containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(key) or []:
            yield f"{key[:-1]} {container.get('name')}", container


def baseline_violations(spec: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    pod_context = spec.get("securityContext") or {}
    found += [f"spec.{key}" for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key)]
    found += [f"volume {v.get('name')}: hostPath" for v in spec.get("volumes") or [] if "hostPath" in v]
    found += [
        f"sysctl {s.get('name')} is not a safe sysctl"
        for s in pod_context.get("sysctls") or []
        if s.get("name") not in SAFE_SYSCTLS
    ]
    contexts = [("pod", pod_context)]
    for where, container in _containers(spec):
        context = container.get("securityContext") or {}
        contexts.append((where, context))
        if context.get("privileged"):
            found.append(f"{where}: privileged")
        added = set((context.get("capabilities") or {}).get("add") or []) - BASELINE_CAPABILITIES
        if added:
            found.append(f"{where}: adds capabilities {sorted(added)}")
        found += [f"{where}: hostPort {p['hostPort']}" for p in container.get("ports") or [] if p.get("hostPort")]
        if context.get("procMount") not in (None, "Default"):
            found.append(f"{where}: procMount {context['procMount']}")
    for where, context in contexts:
        if (context.get("seccompProfile") or {}).get("type") == "Unconfined":
            found.append(f"{where}: seccomp Unconfined")
        if (context.get("appArmorProfile") or {}).get("type") == "Unconfined":
            found.append(f"{where}: AppArmor Unconfined")
        selinux = context.get("seLinuxOptions") or {}
        if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
            found.append(f"{where}: seLinuxOptions {selinux}")
    return found


def restricted_violations(spec: Mapping[str, Any]) -> list[str]:
    """Baseline's violations plus restricted's own."""
    found = baseline_violations(spec)
    pod_context = spec.get("securityContext") or {}
    found += [
        f"volume {v.get('name')}: type {sorted(set(v) - {'name'})} not allowed"
        for v in spec.get("volumes") or []
        if not set(v) - {"name"} <= RESTRICTED_VOLUMES
    ]
    if pod_context.get("runAsUser") == 0:
        found.append("pod: runAsUser 0")
    pod_seccomp = (pod_context.get("seccompProfile") or {}).get("type")
    for where, container in _containers(spec):
        context = container.get("securityContext") or {}
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{where}: allowPrivilegeEscalation is not false")
        non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
        if non_root is not True:
            found.append(f"{where}: runAsNonRoot is not true (pod or container)")
        if context.get("runAsUser") == 0:
            found.append(f"{where}: runAsUser 0")
        seccomp = (context.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{where}: seccomp {seccomp or 'unset'} (pod or container)")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            found.append(f"{where}: does not drop ALL capabilities")
        added = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
        if added:
            found.append(f"{where}: adds capabilities {sorted(added)}")
    return found


def strictest_level(spec: Mapping[str, Any]) -> str:
    if not restricted_violations(spec):
        return "restricted"
    return "baseline" if not baseline_violations(spec) else "privileged"


def meets(spec: Mapping[str, Any], level: str) -> bool:
    return LEVELS.index(strictest_level(spec)) >= LEVELS.index(level)
