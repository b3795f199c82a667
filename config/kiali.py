"""`mesh-tracing:kiali`: Kiali, its authentication and the Prometheus it reads."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    StrictBool,
    StringConstraints,
    model_validator,
)

from config.problems import MISSING, FieldError
from config.types import (
    DnsLabel,
    Hostname,
    HttpUrl,
    KialiAuthStrategy,
    NonEmptyStr,
    PrometheusMode,
    Quantity,
    ResourceList,
    Resources,
    SettingsModel,
    supported_version,
)
from kube.versions import CHARTS, ChartId

# --------------------------------------------------------------------------- kiali


class OpenIdSettings(SettingsModel):
    issuer_uri: HttpUrl
    client_id: NonEmptyStr
    username_claim: NonEmptyStr = "sub"
    scopes: list[NonEmptyStr] = ["openid", "profile", "email"]


class KialiAuth(SettingsModel):
    strategy: KialiAuthStrategy = KialiAuthStrategy.TOKEN
    openid: OpenIdSettings | None = None

    @model_validator(mode="after")
    def _openid_needs_settings(self) -> KialiAuth:
        if self.strategy is KialiAuthStrategy.OPENID and self.openid is None:
            raise FieldError(("openid",), MISSING, "required with strategy 'openid': {issuerUri, clientId}")
        if self.strategy is not KialiAuthStrategy.OPENID and self.openid is not None:
            raise FieldError(
                ("openid",),
                self.openid.model_dump(by_alias=True, exclude_unset=True),
                f"only used with strategy 'openid', not {self.strategy.value!r}",
            )
        return self


class PrometheusSettings(SettingsModel):
    mode: PrometheusMode = PrometheusMode.DEPLOY
    url: HttpUrl | None = None
    chart_version: Annotated[str, supported_version(ChartId.PROMETHEUS)] = CHARTS[ChartId.PROMETHEUS].default_version
    retention: Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9]+[smhdwy]$")] = "7d"
    persistence_size: Quantity = "8Gi"
    # The deployed server's container (its memory grows with the series it holds).
    resources: Resources = Resources(
        requests=ResourceList(cpu="100m", memory="256Mi"), limits=ResourceList(memory="2Gi")
    )

    @model_validator(mode="after")
    def _url_matches_mode(self) -> PrometheusSettings:
        if self.mode is PrometheusMode.EXTERNAL and self.url is None:
            raise FieldError(("url",), MISSING, "required with mode 'external': the Prometheus HTTP API Kiali queries")
        if self.mode is PrometheusMode.DEPLOY and self.url is not None:
            raise FieldError(("url",), self.url, "only used with mode 'external'; mode 'deploy' sets it")
        return self


class KialiSettings(SettingsModel):
    enabled: StrictBool = True
    chart_version: Annotated[str, supported_version(ChartId.KIALI)] = CHARTS[ChartId.KIALI].default_version
    auth: KialiAuth = KialiAuth()
    prometheus: PrometheusSettings = PrometheusSettings()
    ingress_host: Hostname | None = None
    ingress_class: DnsLabel = "nginx"
    signoz_url: HttpUrl | None = None
    # The kiali-server chart's own defaults, stated so a stack can see and change them.
    resources: Resources = Resources(requests=ResourceList(cpu="10m", memory="64Mi"), limits=ResourceList(memory="1Gi"))
