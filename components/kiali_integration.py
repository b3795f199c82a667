"""KialiIntegration: Kiali with a Prometheus that really holds Istio's metrics, linked to SigNoz.

Kiali reads traces only from Jaeger or Tempo, so its own tracing stays off (no Traces tab that
can only fail). The way to SigNoz is a display-details link: any Service or workload annotated with
SIGNOZ_ANNOTATION shows a "Traces in SigNoz" link to that URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_random as random

from config.kiali import DeployedPrometheus, KialiSettings, OpenIdAuth
from kube import naming, pod_security
from kube.network_policies import Policy
from kube.resources import COMPONENT_TYPE_PREFIX, helm_release, network_policy, secret
from kube.tree import merge
from versions.table import ChartId, facts

SIGNING_KEY_LENGTH = 32
# Prometheus' config reloader, a small helper the settings do not size.
RELOADER_RESOURCES = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}}
# Kiali reads an OpenID client secret from this Secret and key in its own namespace.
OIDC_SECRET_NAME = "kiali"
OIDC_SECRET_KEY = "oidc-secret"


@dataclass(frozen=True)
class KialiArgs:
    """What KialiIntegration needs: its settings section and what the rest of the stack decides for it."""

    kiali: KialiSettings
    # The Istio namespace Kiali (and the deployed Prometheus) run in.
    namespace: str
    # The Prometheus Kiali reads: the deployed one's Service, or `kiali.prometheus.url`.
    prometheus_url: str
    hardened_pods: bool
    # Replace the chart's own NetworkPolicy when not empty.
    network_policies: tuple[Policy, ...]
    kiali_repository: str
    prometheus_repository: str
    signing_key: pulumi.Output[str] | None = None
    oidc_client_secret: pulumi.Output[str] | None = None


# --------------------------------------------------------------------------- pure builders


def chart_display_details(chart_version: str) -> list[dict[str, str]]:
    """The kiali-server chart's default `additional_display_details` at `chart_version` (its facts)."""
    details: list[dict[str, str]] = facts(ChartId.KIALI, chart_version)["additional_display_details"]
    return details


def prometheus_values(prometheus: DeployedPrometheus, hardened_pods: bool) -> dict[str, Any]:
    """Only the server: its default `kubernetes-pods` job scrapes the sidecars' merged metrics
    (prometheus.io/* pod annotations from enablePrometheusMerge), which is all Kiali needs."""
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
    # The stack's own chart values last (`kiali.prometheus.extraValues`).
    return merge(merge(values, pod_security.prometheus_contexts(hardened_pods)), prometheus.extra_values)


def auth_values(kiali: KialiSettings) -> dict[str, Any]:
    auth: dict[str, Any] = {"strategy": kiali.auth.strategy.value}
    if isinstance(kiali.auth, OpenIdAuth):
        openid = kiali.auth.openid
        auth["openid"] = {
            "issuer_uri": openid.issuer_uri,
            "client_id": openid.client_id,
            "username_claim": openid.username_claim,
            "scopes": list(openid.scopes),
        }
    return auth


def kiali_values(args: KialiArgs, signing_key: pulumi.Input[str]) -> dict[str, Any]:
    kiali = args.kiali
    values: dict[str, Any] = {
        "auth": auth_values(kiali),
        # Set explicitly: left empty, the chart generates a new key on every render.
        "login_token": {"signing_key": signing_key},
        "external_services": {
            "prometheus": {"url": args.prometheus_url},
            "tracing": {"enabled": False},
            "grafana": {"enabled": False},
        },
        "server": {"web_root": naming.KIALI_WEB_ROOT},
        "deployment": {"resources": kiali.resources.to_values()},
    }
    if args.network_policies:
        # Replaced by the program's own, which admits only Kiali's clients (the chart's admits any
        # pod on Kiali's ports).
        values["deployment"]["network_policy"] = {"enabled": False}
    if kiali.signoz_url:
        # Helm replaces lists: the chart version's own entries are restated next to ours.
        values["additional_display_details"] = [
            *chart_display_details(kiali.chart_version),
            {"title": "Traces in SigNoz", "annotation": naming.SIGNOZ_ANNOTATION},
        ]
    if kiali.ingress_host:
        values["deployment"]["ingress"] = {"enabled": True, "class_name": kiali.ingress_class}
        values["server"]["web_fqdn"] = kiali.ingress_host
    # The stack's own chart values last (`kiali.extraValues`).
    return merge(values, kiali.extra_values)


def kiali_url(kiali: KialiSettings) -> str | None:
    return f"http://{kiali.ingress_host}{naming.KIALI_WEB_ROOT}" if kiali.ingress_host else None


def signoz_link_template(kiali: KialiSettings) -> str | None:
    """SIGNOZ_ANNOTATION's value for any workload, with placeholders for its app label and namespace."""
    return naming.signoz_service_link(kiali.signoz_url, "<app>", "<namespace>")


def integration_outputs(args: KialiArgs) -> dict[str, Any]:
    """What operators reach, for the stack outputs."""
    return {
        "kialiService": f"{naming.service_fqdn(naming.kiali_service_name(), args.namespace)}:{naming.KIALI_PORT}",
        "kialiUrl": kiali_url(args.kiali),
        "prometheusUrl": args.prometheus_url,
        "signozLinkTemplate": signoz_link_template(args.kiali),
    }


# --------------------------------------------------------------------------- component


class KialiIntegration(pulumi.ComponentResource):
    """Optional Prometheus, then Kiali in the Istio namespace after istiod."""

    def __init__(
        self,
        name: str,
        args: KialiArgs,
        *,
        istio_namespace: pulumi.Input[str],
        istiod: pulumi.Resource,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(f"{COMPONENT_TYPE_PREFIX}KialiIntegration", name, None, opts)
        kiali = args.kiali
        child = pulumi.ResourceOptions(parent=self)
        after_istiod = pulumi.ResourceOptions(parent=self, depends_on=[istiod])
        waits_for: list[pulumi.Resource] = [istiod]

        if isinstance(kiali.prometheus, DeployedPrometheus):
            prometheus = helm_release(
                f"{name}-prometheus",
                chart=ChartId.PROMETHEUS,
                version=kiali.prometheus.chart_version,
                release_name=naming.PROMETHEUS_RELEASE,
                namespace=istio_namespace,
                values=prometheus_values(kiali.prometheus, args.hardened_pods),
                repository=args.prometheus_repository,
                opts=child,
            )
            waits_for.append(prometheus)
        signing_key = args.signing_key
        if signing_key is None:
            generated = random.RandomPassword(
                f"{name}-signing-key", length=SIGNING_KEY_LENGTH, special=False, opts=child
            )
            signing_key = pulumi.Output.secret(generated.result)
        if args.oidc_client_secret is not None:
            # Kiali reads the client secret at start-up: the Secret exists before the release.
            waits_for.append(
                secret(
                    f"{name}-oidc-secret",
                    name=OIDC_SECRET_NAME,
                    namespace=istio_namespace,
                    string_data={OIDC_SECRET_KEY: args.oidc_client_secret},
                    opts=after_istiod,
                )
            )
        for found in args.network_policies:
            network_policy(f"{name}-{found.name}", found, namespace=istio_namespace, opts=child)
        helm_release(
            f"{name}-release",
            chart=ChartId.KIALI,
            version=kiali.chart_version,
            release_name=naming.KIALI_RELEASE,
            namespace=istio_namespace,
            values=kiali_values(args, signing_key),
            repository=args.kiali_repository,
            opts=pulumi.ResourceOptions(parent=self, depends_on=waits_for),
        )
        self.outputs = integration_outputs(args)
        self.register_outputs(self.outputs)
