"""A typed model of the MeshConfig fields this program sets (istiod's `meshConfig` value).

istiod's chart passes `meshConfig` through untouched and istiod's parser drops unknown fields
silently, so the subtree is free-form for the chart check and validated here instead. Field names
and enums are those of istio/api v1.30 (mesh/v1alpha1/config.proto, proxy.proto).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

BUILT_IN_PROVIDERS = frozenset({"prometheus", "stackdriver", "envoy"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ZipkinProvider(_Strict):
    service: str = Field(pattern=r"^([a-z0-9-]+/)?[a-z0-9-]+(\.[a-z0-9-]+)+$")  # FQDN, optionally ns/host
    port: int = Field(ge=1, le=65535)
    maxTagLength: int | None = Field(default=None, ge=0)  # noqa: N815 - proto JSON names
    enable64bitTraceId: bool | None = None  # noqa: N815
    path: str | None = None
    traceContextOption: Literal["USE_B3", "USE_B3_WITH_W3C_PROPAGATION"] | None = None  # noqa: N815
    timeout: str | None = None


class ExtensionProvider(_Strict):
    name: str = Field(min_length=1)
    zipkin: ZipkinProvider


class DefaultProviders(_Strict):
    metrics: list[str] | None = None
    tracing: list[str] | None = None
    accessLogging: list[str] | None = None  # noqa: N815


class ProxyStatsMatcher(_Strict):
    inclusionPrefixes: list[str] | None = None  # noqa: N815
    inclusionSuffixes: list[str] | None = None  # noqa: N815
    inclusionRegexps: list[str] | None = None  # noqa: N815


class ProxyConfig(_Strict):
    proxyStatsMatcher: ProxyStatsMatcher | None = None  # noqa: N815


class MeshConfig(_Strict):
    extensionProviders: list[ExtensionProvider] = []  # noqa: N815
    defaultProviders: DefaultProviders | None = None  # noqa: N815
    defaultConfig: ProxyConfig | None = None  # noqa: N815
    enablePrometheusMerge: bool | None = None  # noqa: N815
    rootNamespace: str | None = None  # noqa: N815
