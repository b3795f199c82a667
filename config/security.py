"""`mesh-tracing:security`: NetworkPolicies and hardened pods."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import (
    AfterValidator,
    StrictBool,
    StringConstraints,
)

from config.types import DnsLabel, SettingsModel

# --------------------------------------------------------------------------- security


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError:
        raise ValueError(
            "must be a CIDR block such as 172.18.0.0/16 or 10.0.0.10/32, with no address bits set past the prefix"
        ) from None


Cidr = Annotated[str, StringConstraints(strict=True, max_length=64), AfterValidator(_cidr)]


class NetworkPolicySettings(SettingsModel):
    """Ingress NetworkPolicies for the namespaces the program runs workloads in (docs/security.md)."""

    # Unset: on in production (`is_production`), off elsewhere.
    enabled: StrictBool | None = None
    # Where the API server's service proxy connects from (`make verify`, `make set-retention`):
    # the control plane's addresses, which a NetworkPolicy can only name as an ipBlock.
    api_server_cidrs: list[Cidr] = []
    # Where the ingress controllers run that serve uiHost, kiali.ingressHost and signoz.ingest.
    ingress_namespaces: list[DnsLabel] = ["ingress-nginx"]
    # Namespaces besides the meshed ones whose pods send OTLP or Zipkin to the collector themselves.
    sender_namespaces: list[DnsLabel] = []


class SecuritySettings(SettingsModel):
    network_policies: NetworkPolicySettings = NetworkPolicySettings()
    # Non-root, no privilege escalation, no capabilities, seccomp RuntimeDefault and, where the image
    # allows it, a read-only root filesystem for every pod whose chart offers the values.
    hardened_pods: StrictBool = True
