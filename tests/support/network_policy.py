"""A small NetworkPolicy evaluator over a rendered stream: may this source reach that pod on that port?

It follows the Kubernetes semantics the program relies on (networking.k8s.io/v1, ingress only):

- a pod is isolated for ingress once any policy of its namespace selects it with `Ingress` among its
  policy types (a policy without `policyTypes` has Ingress); an isolated pod admits a connection only
  when some rule of a policy selecting it admits both the source and the port; others admit all;
- a peer with only `podSelector` means pods of the policy's namespace; with only `namespaceSelector`
  every pod of the selected namespaces; with both, the selected pods of the selected namespaces; an
  `ipBlock` (with `except`) matches addresses (the API server's), never a pod here;
- a rule without `from` admits every source, without `ports` every port; a port is a number (with
  `endPort`) or the name of a container port of the destination pod; the protocol defaults to TCP;
- selectors: `matchLabels` and `matchExpressions` (In, NotIn, Exists, DoesNotExist); `{}` matches all.

Pods are the pod templates of the rendered workloads and of the ClickHouseInstallation (whose pods
the operator creates from them); a namespace's labels are its rendered ones plus
`kubernetes.io/metadata.name`, which the API server sets on every namespace.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kube.tree import dig
from meshtools.manifests import Manifest

NAME_LABEL = "kubernetes.io/metadata.name"
POD_TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet")


@dataclass(frozen=True)
class Pod:
    """A pod (template) of the stream: where it runs, its labels, its named container ports."""

    namespace: str
    workload: str
    labels: Mapping[str, str]
    named_ports: Mapping[str, int] = field(default_factory=dict)
    spec: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Address:
    """A source outside the pod network, such as the API server's service proxy."""

    ip: str


Source = Pod | Address


def _named_ports(spec: Mapping[str, Any]) -> dict[str, int]:
    return {
        str(port["name"]): int(port["containerPort"])
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        for port in container.get("ports") or []
        if port.get("name")
    }


def pods_of(objects: Iterable[Manifest]) -> list[Pod]:
    """Every pod template of the stream: workloads' (and CronJobs') and the ClickHouse pod templates."""
    found: list[Pod] = []
    for manifest in objects:
        namespace, kind, name = manifest.key
        templates: list[Mapping[str, Any]] = []
        if kind in POD_TEMPLATE_KINDS:
            templates = [dig(manifest.object, "spec", "template") or {}]
        elif kind == "CronJob":
            templates = [dig(manifest.object, "spec", "jobTemplate", "spec", "template") or {}]
        elif kind == "ClickHouseInstallation":
            templates = list(dig(manifest.object, "spec", "templates", "podTemplates") or [])
        for template in templates:
            spec = template.get("spec") or {}
            labels = dig(template, "metadata", "labels") or {}
            found.append(Pod(namespace, f"{kind} {namespace}/{name}", dict(labels), _named_ports(spec), spec))
    return found


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A label selector (None means none given, which callers treat by context)."""
    selector = selector or {}
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
        if operator not in {"In", "NotIn", "Exists", "DoesNotExist"}:
            raise ValueError(f"unknown selector operator {operator}")
    return True


class Cluster:
    """The rendered NetworkPolicies, pods and namespaces of one stack."""

    def __init__(self, objects: Iterable[Manifest]) -> None:
        objects = list(objects)
        self.policies = [m.object for m in objects if m.key[1] == "NetworkPolicy"]
        self.pods = pods_of(objects)
        self.namespace_labels: dict[str, dict[str, str]] = {}
        for manifest in objects:
            if manifest.key[1] == "Namespace":
                name = manifest.key[2]
                labels = dig(manifest.object, "metadata", "labels") or {}
                self.namespace_labels[name] = {**labels, NAME_LABEL: name}

    def labels_of(self, namespace: str) -> dict[str, str]:
        """A namespace's labels; one the stream does not create (an adopted or foreign one) has the
        name label only."""
        return self.namespace_labels.get(namespace, {NAME_LABEL: namespace})

    def pod(self, workload: str) -> Pod:
        [found] = [p for p in self.pods if p.workload == workload]
        return found

    def policies_selecting(self, pod: Pod) -> list[Mapping[str, Any]]:
        return [
            policy
            for policy in self.policies
            if dig(policy, "metadata", "namespace") == pod.namespace
            and "Ingress" in (dig(policy, "spec", "policyTypes") or ["Ingress"])
            and selects(dig(policy, "spec", "podSelector"), pod.labels)
        ]

    def isolated(self, pod: Pod) -> bool:
        return bool(self.policies_selecting(pod))

    def admits(self, source: Source, pod: Pod, port: int, protocol: str = "TCP") -> bool:
        """Whether a connection from `source` to `pod` on `port` is allowed."""
        selecting = self.policies_selecting(pod)
        if not selecting:
            return True
        return any(
            self._peer_matches(rule.get("from"), source, str(dig(policy, "metadata", "namespace")))
            and _port_matches(rule.get("ports"), pod, port, protocol)
            for policy in selecting
            for rule in dig(policy, "spec", "ingress") or []
        )

    def _peer_matches(self, peers: list[Mapping[str, Any]] | None, source: Source, policy_namespace: str) -> bool:
        if not peers:
            return True
        for peer in peers:
            if "ipBlock" in peer:
                if isinstance(source, Address) and _in_block(source.ip, peer["ipBlock"]):
                    return True
                continue
            if not isinstance(source, Pod):
                continue
            namespace_selector, pod_selector = peer.get("namespaceSelector"), peer.get("podSelector")
            if namespace_selector is None and source.namespace != policy_namespace:
                continue
            if namespace_selector is not None and not selects(namespace_selector, self.labels_of(source.namespace)):
                continue
            if pod_selector is not None and not selects(pod_selector, source.labels):
                continue
            return True
        return False


def _in_block(ip: str, block: Mapping[str, Any]) -> bool:
    address = ipaddress.ip_address(ip)
    if address not in ipaddress.ip_network(block["cidr"]):
        return False
    return not any(address in ipaddress.ip_network(excluded) for excluded in block.get("except") or [])


def _port_matches(ports: list[Mapping[str, Any]] | None, pod: Pod, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        wanted = entry.get("port")
        if wanted is None:
            return True
        if isinstance(wanted, str):
            if pod.named_ports.get(wanted) == port:
                return True
            continue
        if int(wanted) <= port <= int(entry.get("endPort") or wanted):
            return True
    return False
