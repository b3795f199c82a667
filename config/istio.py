"""`mesh-tracing:istio`: the control plane(s), revisions and tags, images and the gateway."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    Field,
    StrictBool,
    StrictInt,
    model_validator,
)

from config.problems import MISSING, FieldError
from config.types import (
    ChartRepository,
    CustomTags,
    DnsLabel,
    ExtraValues,
    ImageHub,
    ObjectName,
    OwnedPaths,
    PositiveInt,
    ResourceList,
    Resources,
    ServiceType,
    SettingsModel,
    TraceContext,
    check_reserved_tags,
    supported_version,
)
from versions.table import CHARTS, ISTIO_HUB, ChartId, version_key

# --------------------------------------------------------------------------- istio


class GatewaySettings(SettingsModel):
    enabled: StrictBool = False
    namespace: DnsLabel = "istio-ingress"
    service_type: ServiceType = ServiceType.LOAD_BALANCER
    # With istio.revisions: the tag (or revision) whose control plane injects the gateway; absent =
    # the `default` tag.
    revision: DnsLabel | None = None
    extra_values: ExtraValues = {}


class IstioBaseSettings(SettingsModel):
    """The `istio-base` release (Istio's CRDs and the default-revision validator)."""

    extra_values: ExtraValues = {}


class IstiodSettings(SettingsModel):
    autoscale_min: PositiveInt = 1
    autoscale_max: PositiveInt = 5
    resources: Resources = Resources(requests=ResourceList(cpu="500m", memory="2048Mi"))
    # Every control plane's; an `istio.revisions` entry's own are merged after these.
    extra_values: ExtraValues = {}

    @model_validator(mode="after")
    def _min_le_max(self) -> IstiodSettings:
        if self.autoscale_min > self.autoscale_max:
            raise FieldError(
                ("autoscaleMin",), self.autoscale_min, f"must not exceed autoscaleMax ({self.autoscale_max})"
            )
        return self


class IstioRevision(SettingsModel):
    """One control plane of a canary upgrade (`istio.revisions`): an istiod release of its own."""

    name: DnsLabel
    chart_version: Annotated[str, supported_version(ChartId.ISTIOD)]
    # This control plane's own, merged after `istio.istiod.extraValues` (a canary may need a value
    # the old version lacks).
    extra_values: ExtraValues = {}


# The name of the revision that runs unrevisioned (istiod's chart value `revision: ""`) and of the
# tag namespaces without a revision follow.
DEFAULT_REVISION = "default"


class IstioSettings(SettingsModel):
    chart_version: Annotated[str, supported_version(ChartId.ISTIOD)] = CHARTS[ChartId.ISTIOD].default_version
    namespace: DnsLabel = "istio-system"
    # The single form: the revision of the one control plane. With `revisions`: the revision that runs
    # in the Helm release `istiod` (the stack's control plane before it listed revisions).
    revision: DnsLabel | None = None
    revisions: Annotated[list[IstioRevision], Field(min_length=1)] | None = None
    tags: dict[DnsLabel, DnsLabel] = {}
    # Where Istio's images come from (istiod, proxies, the demo's Bookinfo): a registry path.
    hub: ImageHub = ISTIO_HUB
    image_pull_secrets: list[ObjectName] = []
    # Replaces the repository of Istio's charts only (chartRepository replaces every chart's).
    chart_repository: ChartRepository | None = None
    provider_name: DnsLabel = "signoz"
    max_tag_length: Annotated[StrictInt, Field(ge=1, le=65536)] = 256
    trace_context: TraceContext = TraceContext.B3_AND_W3C
    custom_tags: CustomTags = {}
    base: IstioBaseSettings = IstioBaseSettings()
    istiod: IstiodSettings = IstiodSettings()
    gateway: GatewaySettings = GatewaySettings()

    @model_validator(mode="after")
    def _checks(self) -> IstioSettings:
        check_reserved_tags(self.custom_tags)
        if self.gateway.enabled and self.gateway.namespace == self.namespace:
            raise FieldError(
                ("gateway", "namespace"), self.gateway.namespace, "must differ from istio.namespace (the control plane)"
            )
        if self.revisions is None:
            if self.tags:
                raise FieldError(("tags",), self.tags, "only used with istio.revisions (revision tags name revisions)")
            return self
        _check_revisions(self)
        return self

    def chart_versions(self) -> list[str]:
        """The istiod chart version of every control plane."""
        if self.revisions is None:
            return [self.chart_version]
        return [entry.chart_version for entry in self.revisions]

    @property
    def newest_chart_version(self) -> str:
        """The version of the cluster-wide charts (base: CRDs; gateway): the newest control plane's,
        as Istio's canary upgrade updates the CRDs before the new control plane starts."""
        return max(self.chart_versions(), key=version_key)

    def istiod_extra_values(self, revision: str) -> tuple[ExtraValues, ...]:
        """The stack's own istiod values for the control plane of `revision`, in merge order: every
        control plane's (`istiod.extraValues`), then its `revisions` entry's, so a canary can differ."""
        own = next((entry.extra_values for entry in self.revisions or [] if entry.name == revision), {})
        return (self.istiod.extra_values, own)

    def revision_names(self) -> list[str]:
        """The revisions a namespace or tag may name (the single form's one, or every listed one)."""
        if self.revisions is None:
            return [self.revision or DEFAULT_REVISION]
        return [entry.name for entry in self.revisions]


def _check_revisions(istio: IstioSettings) -> None:
    """The shape of `istio.revisions` and `istio.tags`; each problem names the key at fault."""
    assert istio.revisions is not None
    if "chart_version" in istio.model_fields_set:
        raise FieldError(
            ("chartVersion",), istio.chart_version, "only used without istio.revisions: each revision sets chartVersion"
        )
    names = [entry.name for entry in istio.revisions]
    listed = ", ".join(names)
    seen_names: dict[str, int] = {}
    seen_versions: dict[str, int] = {}
    for index, entry in enumerate(istio.revisions):
        if entry.name in seen_names:
            raise FieldError(
                ("revisions", index, "name"), entry.name, f"duplicate of revisions[{seen_names[entry.name]}]"
            )
        if entry.chart_version in seen_versions:
            raise FieldError(
                ("revisions", index, "chartVersion"),
                entry.chart_version,
                f"revisions[{seen_versions[entry.chart_version]}] runs this version already: each revision is "
                "a control plane of another version",
            )
        if entry.name == DEFAULT_REVISION and istio.revision is not None:
            raise FieldError(
                ("revisions", index, "name"),
                entry.name,
                f"'default' is the unrevisioned control plane of release istiod, which runs revision "
                f"{istio.revision!r} (istio.revision) in this stack",
            )
        seen_names[entry.name] = index
        seen_versions[entry.chart_version] = index
    if istio.revision is not None and istio.revision not in names:
        raise FieldError(
            ("revision",),
            istio.revision,
            f"names the revision running in release istiod and must be one of istio.revisions ({listed}); "
            "remove istio.revision once that control plane is gone",
        )
    if DEFAULT_REVISION not in istio.tags:
        raise FieldError(
            ("tags", DEFAULT_REVISION),
            MISSING,
            "required with istio.revisions: the revision that namespaces without a revision, and "
            "istio-injection=enabled, follow",
        )
    for tag, target in istio.tags.items():
        if target not in names:
            raise FieldError(
                ("tags", tag),
                target,
                f"not a revision of istio.revisions ({listed}); a tag must point at a listed revision "
                "(move it before removing its revision)",
            )
        if tag in names and tag != DEFAULT_REVISION:
            raise FieldError(("tags", tag), target, "is also the name of a revision; give the tag another name")


# --------------------------------------------------------------------------- values the program sets

_HARDENED = "from mesh-tracing:security.hardenedPods (the hardened pod and container contexts)"
_PULL_SECRETS = "from mesh-tracing:istio.imagePullSecrets"
_ISTIO_NAMESPACE = "from mesh-tracing:istio.namespace"
_FAIL_FIRST = "itself: the validating webhook starts as Fail (docs/design-decisions.md, ADR 12)"

# The chart values each Istio release gets from the program (components/istio_mesh.py builds them):
# its `extraValues` may not set them (config/extra_values.py).
ISTIO_BASE_OWNED: OwnedPaths = {
    "global.istioNamespace": _ISTIO_NAMESPACE,
    "global.imagePullSecrets": _PULL_SECRETS,
    "base.validationFailurePolicy": _FAIL_FIRST,
    "defaultRevision": "from mesh-tracing:istio.tags: the revision behind the `default` tag",
}
ISTIOD_OWNED: OwnedPaths = {
    "global.istioNamespace": _ISTIO_NAMESPACE,
    "global.hub": "from mesh-tracing:istio.hub",
    "global.tag": "from mesh-tracing:istio.chartVersion (or the revision's chartVersion): images match the chart",
    "global.imagePullSecrets": _PULL_SECRETS,
    "global.operatorManageWebhooks": "from mesh-tracing:istio.tags: a control plane's own injector is off "
    "while the `default` tag points elsewhere",
    "revision": "from mesh-tracing:istio.revision and istio.revisions",
    "autoscaleMin": "from mesh-tracing:istio.istiod.autoscaleMin",
    "autoscaleMax": "from mesh-tracing:istio.istiod.autoscaleMax",
    "resources": "from mesh-tracing:istio.istiod.resources",
    "seccompProfile": _HARDENED,
    "base.validationFailurePolicy": _FAIL_FIRST,
    "meshConfig.extensionProviders": "from mesh-tracing:istio.providerName, istio.maxTagLength and "
    "istio.traceContext: the Zipkin provider every proxy reports spans to",
    "meshConfig.defaultProviders.tracing": "from mesh-tracing:istio.providerName: the mesh's tracing provider "
    "(the Zipkin provider), sampled by mesh-tracing:samplingPercent on the mesh Telemetry",
    "meshConfig.defaultProviders.metrics": "itself: Istio's Prometheus metrics, which Kiali's graph reads "
    "(docs/design-decisions.md, ADR 5)",
    "meshConfig.defaultConfig.proxyStatsMatcher": "itself: Envoy's Zipkin counters, which `make verify` reads "
    "(docs/design-decisions.md, ADR 6)",
}
GATEWAY_OWNED: OwnedPaths = {
    "service.type": "from mesh-tracing:istio.gateway.serviceType",
    "revision": "from mesh-tracing:istio.gateway.revision (or istio.revision)",
    "imagePullSecrets": _PULL_SECRETS,
    "securityContext": _HARDENED,
}
