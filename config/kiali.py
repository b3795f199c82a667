"""`mesh-tracing:kiali`: Kiali, its authentication and the Prometheus it reads."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    Field,
    StrictBool,
    StringConstraints,
    Tag,
)

from config.types import (
    DnsLabel,
    ExtraValues,
    Hostname,
    HttpUrl,
    KialiAuthStrategy,
    NonEmptyStr,
    OwnedPaths,
    PrometheusMode,
    Quantity,
    ResourceList,
    Resources,
    SettingsModel,
    mode_of,
    supported_version,
)
from versions.table import CHARTS, ChartId

# --------------------------------------------------------------------------- kiali


class OpenIdSettings(SettingsModel):
    issuer_uri: HttpUrl
    client_id: NonEmptyStr
    username_claim: NonEmptyStr = "sub"
    scopes: list[NonEmptyStr] = ["openid", "profile", "email"]


class TokenAuth(SettingsModel):
    """Kiali's login with a Kubernetes token of the user's own."""

    mode_note = "users log in with a Kubernetes token"

    strategy: Literal[KialiAuthStrategy.TOKEN] = KialiAuthStrategy.TOKEN


class AnonymousAuth(SettingsModel):
    """No login: anyone who reaches Kiali sees the mesh (refused in production)."""

    mode_note = "no one logs in"

    strategy: Literal[KialiAuthStrategy.ANONYMOUS]


class OpenIdAuth(SettingsModel):
    """Login through an OpenID provider."""

    mode_note = "users log in through the OpenID provider"

    strategy: Literal[KialiAuthStrategy.OPENID]
    openid: Annotated[OpenIdSettings, Field(description="{issuerUri, clientId}")]


KialiAuth = Annotated[
    Annotated[TokenAuth, Tag(KialiAuthStrategy.TOKEN.value)]
    | Annotated[AnonymousAuth, Tag(KialiAuthStrategy.ANONYMOUS.value)]
    | Annotated[OpenIdAuth, Tag(KialiAuthStrategy.OPENID.value)],
    mode_of("strategy", KialiAuthStrategy.TOKEN.value),
]


class DeployedPrometheus(SettingsModel):
    """`mode: deploy`: a Prometheus server of the prometheus chart, scraping the mesh for Kiali."""

    mode_note = "the program deploys Prometheus and sets its URL"

    mode: Literal[PrometheusMode.DEPLOY] = PrometheusMode.DEPLOY
    chart_version: Annotated[str, supported_version(ChartId.PROMETHEUS)] = CHARTS[ChartId.PROMETHEUS].default_version
    retention: Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9]+[smhdwy]$")] = "7d"
    persistence_size: Quantity = "8Gi"
    # The deployed server's container (its memory grows with the series it holds).
    resources: Resources = Resources(
        requests=ResourceList(cpu="100m", memory="256Mi"), limits=ResourceList(memory="2Gi")
    )
    # The prometheus release's values the settings do not model, merged last.
    extra_values: ExtraValues = {}


class ExternalPrometheus(SettingsModel):
    """`mode: external`: Kiali reads a Prometheus that runs already."""

    mode_note = "Kiali reads a Prometheus that runs already"

    mode: Literal[PrometheusMode.EXTERNAL]
    url: Annotated[HttpUrl, Field(description="the Prometheus HTTP API Kiali queries")]


PrometheusSettings = Annotated[
    Annotated[DeployedPrometheus, Tag(PrometheusMode.DEPLOY.value)]
    | Annotated[ExternalPrometheus, Tag(PrometheusMode.EXTERNAL.value)],
    mode_of("mode", PrometheusMode.DEPLOY.value),
]


class KialiSettings(SettingsModel):
    enabled: StrictBool = True
    chart_version: Annotated[str, supported_version(ChartId.KIALI)] = CHARTS[ChartId.KIALI].default_version
    auth: KialiAuth = TokenAuth()
    prometheus: PrometheusSettings = DeployedPrometheus()
    ingress_host: Hostname | None = None
    ingress_class: DnsLabel = "nginx"
    signoz_url: HttpUrl | None = None
    # The kiali-server chart's own defaults, stated so a stack can see and change them.
    resources: Resources = Resources(requests=ResourceList(cpu="10m", memory="64Mi"), limits=ResourceList(memory="1Gi"))
    # The kiali-server release's values the settings do not model, merged last.
    extra_values: ExtraValues = {}


# --------------------------------------------------------------------------- values the program sets

_HARDENED = "from mesh-tracing:security.hardenedPods (the hardened pod and container contexts)"

# The chart values the kiali release gets from the program (components/kiali_integration.py builds
# them): `kiali.extraValues` may not set them (config/extra_values.py).
KIALI_OWNED: OwnedPaths = {
    "auth": "from mesh-tracing:kiali.auth",
    "login_token.signing_key": "from mesh-tracing:kialiSigningKey (or a generated one)",
    "external_services.prometheus.url": "from mesh-tracing:kiali.prometheus: the Prometheus holding Istio's metrics",
    "external_services.tracing.enabled": "itself: Kiali reads traces from Jaeger or Tempo only; SigNoz is linked "
    "with mesh-tracing:kiali.signozUrl (docs/design-decisions.md, ADR 11)",
    "external_services.grafana.enabled": "itself: no Grafana is deployed",
    "server.web_root": "itself: the path the kialiUrl output and the links use",
    "server.web_fqdn": "from mesh-tracing:kiali.ingressHost",
    "deployment.resources": "from mesh-tracing:kiali.resources",
    "deployment.ingress.enabled": "from mesh-tracing:kiali.ingressHost",
    "deployment.ingress.class_name": "from mesh-tracing:kiali.ingressClass",
    "deployment.network_policy.enabled": "from mesh-tracing:security.networkPolicies (the program's own "
    "NetworkPolicies replace the chart's)",
    "additional_display_details": "from mesh-tracing:kiali.signozUrl: the chart's entries and the SigNoz link",
}
# The chart values the prometheus release Kiali reads gets from the program: its `extraValues` may
# not set them.
PROMETHEUS_OWNED: OwnedPaths = {
    "alertmanager.enabled": "itself: only the server runs, scraping the sidecars for Kiali",
    "kube-state-metrics.enabled": "itself: only the server runs, scraping the sidecars for Kiali",
    "prometheus-node-exporter.enabled": "itself: only the server runs, scraping the sidecars for Kiali",
    "prometheus-pushgateway.enabled": "itself: only the server runs, scraping the sidecars for Kiali",
    "server.retention": "from mesh-tracing:kiali.prometheus.retention",
    "server.persistentVolume.size": "from mesh-tracing:kiali.prometheus.persistenceSize",
    "server.resources": "from mesh-tracing:kiali.prometheus.resources",
    "server.securityContext": _HARDENED,
    "server.containerSecurityContext": _HARDENED,
    "configmapReload.prometheus.resources": "itself: the config reloader's fixed small size",
    "configmapReload.prometheus.containerSecurityContext": _HARDENED,
}
