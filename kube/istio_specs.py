"""The Istio custom resources the mesh and the traced namespaces share: Telemetry (tracing) and
PeerAuthentication (mTLS), and the span tags every proxy adds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from config.types import CustomTag, MtlsMode


def mesh_custom_tags(environment: str, cluster: str, custom_tags: Mapping[str, CustomTag]) -> dict[str, Any]:
    """Tags every span carries: environment and cluster as literals, then the configured extras."""
    tags: dict[str, Any] = {
        "environment": {"literal": {"value": environment}},
        "cluster": {"literal": {"value": cluster}},
    }
    tags.update({name: tag.to_spec() for name, tag in sorted(custom_tags.items())})
    return tags


def telemetry_spec(provider: str, sampling_percent: float, custom_tags: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "tracing": [
            {
                "providers": [{"name": provider}],
                "randomSamplingPercentage": sampling_percent,
                "customTags": dict(custom_tags),
            }
        ]
    }


def peer_authentication_spec(mode: MtlsMode) -> dict[str, Any]:
    return {"mtls": {"mode": mode.value}}
