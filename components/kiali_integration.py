"""KialiIntegration: Kiali with a Prometheus that really holds Istio's metrics, linked to SigNoz.

Kiali reads traces only from Jaeger or Tempo, so its own tracing stays off (no Traces tab that
can only fail). The way to SigNoz is a display-details link: any Service or workload annotated with
SIGNOZ_ANNOTATION shows a "Traces in SigNoz" link to that URL.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_random as random

from config.stack import StackSettings
from config.types import KialiAuthStrategy, PrometheusMode
from kube import naming, network_policies, pod_security
from kube.resources import COMPONENT_TYPE_PREFIX, helm_release, network_policy, secret
from kube.tree import merge
from kube.versions import ChartId, facts

SIGNOZ_ANNOTATION = "mesh-tracing.io/signoz-traces"
WEB_ROOT = "/kiali"
SIGNING_KEY_LENGTH = 32
# Prometheus' config reloader, a small helper the settings do not size.
RELOADER_RESOURCES = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}}
# Kiali reads an OpenID client secret from this Secret and key in its own namespace.
OIDC_SECRET_NAME = "kiali"
OIDC_SECRET_KEY = "oidc-secret"


# --------------------------------------------------------------------------- pure builders


def chart_display_details(chart_version: str) -> list[dict[str, str]]:
    """The kiali-server chart's default `additional_display_details` at `chart_version` (its facts)."""
    details: list[dict[str, str]] = facts(ChartId.KIALI, chart_version)["additional_display_details"]
    return details


def prometheus_url(settings: StackSettings) -> str:
    prometheus = settings.kiali.prometheus
    if prometheus.mode is PrometheusMode.EXTERNAL:
        assert prometheus.url is not None  # enforced by PrometheusSettings
        return prometheus.url
    return naming.prometheus_url(settings.istio)


def prometheus_values(settings: StackSettings) -> dict[str, Any]:
    """Only the server: its default `kubernetes-pods` job scrapes the sidecars' merged metrics
    (prometheus.io/* pod annotations from enablePrometheusMerge), which is all Kiali needs."""
    prometheus = settings.kiali.prometheus
    values = {
        "alertmanager": {"enabled": False},
        "kube-state-metrics": {"enabled": False},
        "prometheus-node-exporter": {"enabled": False},
        "prometheus-pushgateway": {"enabled": False},
        "server": {
            "retention": prometheus.retention,
            "persistentVolume": {"size": prometheus.persistence_size},
            "resources": prometheus.resources.to_values(),
        },
        "configmapReload": {"prometheus": {"resources": RELOADER_RESOURCES}},
    }
    return merge(values, pod_security.prometheus_contexts(settings))


def kiali_values(settings: StackSettings, signing_key: pulumi.Input[str]) -> dict[str, Any]:
    kiali = settings.kiali
    auth: dict[str, Any] = {"strategy": kiali.auth.strategy.value}
    if kiali.auth.strategy is KialiAuthStrategy.OPENID:
        assert kiali.auth.openid is not None  # enforced by KialiAuth
        auth["openid"] = {
            "issuer_uri": kiali.auth.openid.issuer_uri,
            "client_id": kiali.auth.openid.client_id,
            "username_claim": kiali.auth.openid.username_claim,
            "scopes": list(kiali.auth.openid.scopes),
        }
    values: dict[str, Any] = {
        "auth": auth,
        # Set explicitly: left empty, the chart generates a new key on every render.
        "login_token": {"signing_key": signing_key},
        "external_services": {
            "prometheus": {"url": prometheus_url(settings)},
            "tracing": {"enabled": False},
            "grafana": {"enabled": False},
        },
        "server": {"web_root": WEB_ROOT},
        "deployment": {"resources": kiali.resources.to_values()},
    }
    if network_policies.enabled(settings):
        # Replaced by the program's own, which admits only Kiali's clients (the chart's admits any
        # pod on Kiali's ports).
        values["deployment"]["network_policy"] = {"enabled": False}
    if kiali.signoz_url:
        # Helm replaces lists: the chart version's own entries are restated next to ours.
        values["additional_display_details"] = [
            *chart_display_details(kiali.chart_version),
            {"title": "Traces in SigNoz", "annotation": SIGNOZ_ANNOTATION},
        ]
    if kiali.ingress_host:
        values["deployment"]["ingress"] = {"enabled": True, "class_name": kiali.ingress_class}
        values["server"]["web_fqdn"] = kiali.ingress_host
    return values


def kiali_url(settings: StackSettings) -> str | None:
    host = settings.kiali.ingress_host
    return f"http://{host}{WEB_ROOT}" if host else None


def signoz_service_link(settings: StackSettings, app: str, namespace: str) -> str | None:
    """What to put in SIGNOZ_ANNOTATION of a workload or Service: SigNoz's page of the service name
    Istio gives that workload's sidecar spans. None without `kiali.signozUrl`."""
    url = settings.kiali.signoz_url
    return f"{url}/services/{naming.sidecar_service_name(app, namespace)}" if url else None


def signoz_link_template(settings: StackSettings) -> str | None:
    """SIGNOZ_ANNOTATION's value for any workload, with placeholders for its app label and namespace."""
    return signoz_service_link(settings, "<app>", "<namespace>")


def kiali_graph_path(namespace: str) -> str:
    """The path (under Kiali's address) of the traffic graph of one namespace."""
    return f"{WEB_ROOT}/console/graph/namespaces?namespaces={namespace}"


# --------------------------------------------------------------------------- component


class KialiIntegration(pulumi.ComponentResource):
    """Optional Prometheus, then Kiali in the Istio namespace after istiod."""

    def __init__(
        self,
        name: str,
        settings: StackSettings,
        *,
        istio_namespace: pulumi.Input[str],
        istiod: pulumi.Resource,
        signing_key: pulumi.Output[str] | None,
        oidc_client_secret: pulumi.Output[str] | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(f"{COMPONENT_TYPE_PREFIX}KialiIntegration", name, None, opts)
        kiali = settings.kiali
        child = pulumi.ResourceOptions(parent=self)
        after_istiod = pulumi.ResourceOptions(parent=self, depends_on=[istiod])
        waits_for: list[pulumi.Resource] = [istiod]

        if kiali.prometheus.mode is PrometheusMode.DEPLOY:
            prometheus = helm_release(
                f"{name}-prometheus",
                chart=ChartId.PROMETHEUS,
                version=kiali.prometheus.chart_version,
                release_name=naming.PROMETHEUS_RELEASE,
                namespace=istio_namespace,
                values=prometheus_values(settings),
                repository=settings.repository_of(ChartId.PROMETHEUS),
                opts=child,
            )
            waits_for.append(prometheus)
        if signing_key is None:
            generated = random.RandomPassword(
                f"{name}-signing-key", length=SIGNING_KEY_LENGTH, special=False, opts=child
            )
            signing_key = pulumi.Output.secret(generated.result)
        if oidc_client_secret is not None:
            # Kiali reads the client secret at start-up: the Secret exists before the release.
            waits_for.append(
                secret(
                    f"{name}-oidc-secret",
                    name=OIDC_SECRET_NAME,
                    namespace=istio_namespace,
                    string_data={OIDC_SECRET_KEY: oidc_client_secret},
                    opts=after_istiod,
                )
            )
        if network_policies.enabled(settings):
            for found in network_policies.istio_policies(settings):
                network_policy(f"{name}-{found.name}", found, namespace=istio_namespace, opts=child)
        helm_release(
            f"{name}-release",
            chart=ChartId.KIALI,
            version=kiali.chart_version,
            release_name=naming.KIALI_RELEASE,
            namespace=istio_namespace,
            values=kiali_values(settings, signing_key),
            repository=settings.repository_of(ChartId.KIALI),
            opts=pulumi.ResourceOptions(parent=self, depends_on=waits_for),
        )

        self.service = (
            f"{naming.service_fqdn(naming.kiali_service_name(), settings.istio.namespace)}:{naming.KIALI_PORT}"
        )
        self.url = kiali_url(settings)
        self.prometheus_url = prometheus_url(settings)
        self.signoz_link_template = signoz_link_template(settings)
        self.register_outputs(
            {
                "service": self.service,
                "url": self.url,
                "prometheusUrl": self.prometheus_url,
                "signozLinkTemplate": self.signoz_link_template,
            }
        )


def build_kiali(
    settings: StackSettings,
    *,
    istio_namespace: pulumi.Input[str],
    istiod: pulumi.Resource,
    signing_key: pulumi.Output[str] | None,
    oidc_client_secret: pulumi.Output[str] | None,
) -> KialiIntegration | None:
    """Kiali when `kiali.enabled` (the default), else nothing."""
    if not settings.kiali.enabled:
        return None
    return KialiIntegration(
        "kiali",
        settings,
        istio_namespace=istio_namespace,
        istiod=istiod,
        signing_key=signing_key,
        oidc_client_secret=oidc_client_secret,
    )
