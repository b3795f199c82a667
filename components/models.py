"""The typed shape of a stack's `mesh-tracing:` config: frozen pydantic models, enums and rules.

Every knob a stack file can turn is declared here, so a typo or an out-of-range value fails the
whole run before any resource is registered. Rules that relate two fields raise `FieldError`
naming the one field at fault; rules that span sections live in `components.settings`.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components.problems import MISSING, FieldError
from components.versions import CHARTS, ISTIO_HUB, RETIRED_LOCATIONS, ChartId, Family

# Names Kubernetes reserves; traced namespaces may not use them (every `kube-` prefixed name is
# Kubernetes' own, so the prefix is refused as a whole).
KUBERNETES_SYSTEM_NAMESPACES = frozenset({"default"})
KUBERNETES_RESERVED_PREFIX = "kube-"

# Request/response headers whose value is a credential. A `header` custom tag copies the real value
# into every sampled span (its `defaultValue` is only used when the header is absent), so these
# are refused outright rather than "redacted".
CREDENTIAL_HEADER_NAMES = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "api-key",
        "x-auth-token",
        "x-access-token",
        "x-amz-security-token",
        "x-goog-api-key",
        "x-csrf-token",
        "x-xsrf-token",
    }
)
CREDENTIAL_HEADER_PATTERN = re.compile(r"(auth|cookie|token|api[-_]?key|secret|password|session)", re.I)


def is_credential_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in CREDENTIAL_HEADER_NAMES or bool(CREDENTIAL_HEADER_PATTERN.search(lowered))


# --------------------------------------------------------------------------- production

# Without `production:` a stack is production when a token of its environment's name (split on `-`,
# `_` and `.`) is one of these; a negating token beside it (`non-prod`, `pre-prod`) leaves the name
# undecided. `preprod` is one token, and not a production one.
PRODUCTION_TOKENS = ("prod", "production", "prd")
NEGATING_TOKENS = ("non", "pre", "not")
_TOKEN_SEPARATORS = re.compile(r"[-_.]")


@dataclass(frozen=True)
class ProductionDecision:
    """Whether a stack gets the production guard rails, and the rule that decided it.
    `production` is None when the environment's name cannot decide and `production:` is not set."""

    production: bool | None
    decided_by: str


def decide_production(environment: str, explicit: bool | None = None) -> ProductionDecision:
    """The one production rule: `mesh-tracing:production` when set, else the environment's name.
    The settings reader refuses an undecided stack; the program labels the mesh Telemetry with the
    decision, and the policy pack reads that label."""
    if explicit is not None:
        return ProductionDecision(explicit, f"mesh-tracing:production is {str(explicit).lower()}")
    tokens = [token for token in _TOKEN_SEPARATORS.split(environment.lower()) if token]
    for index, token in enumerate(tokens):
        if token not in PRODUCTION_TOKENS:
            continue
        beside = tokens[max(index - 1, 0) : index] + tokens[index + 1 : index + 2]
        negating = [t for t in beside if t in NEGATING_TOKENS]
        if negating:
            return ProductionDecision(
                None,
                f"environment {environment!r} carries {negating[0]!r} beside {token!r}, so its name does not "
                "say whether it is production",
            )
        return ProductionDecision(True, f"environment {environment!r} has the token {token!r}")
    listed = f"{', '.join(PRODUCTION_TOKENS[:-1])} or {PRODUCTION_TOKENS[-1]}"
    return ProductionDecision(False, f"environment {environment!r} has no token {listed}")


DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
QUANTITY = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
ATTRIBUTE_KEY = r"^[A-Za-z_][A-Za-z0-9_.\-/]*$"
TAG_NAME = r"^[A-Za-z_][A-Za-z0-9_.\-]*$"
HOSTNAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
OBJECT_NAME = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
# An image registry path images are pulled from as `<hub>/<image>:<tag>`: a host (and port), then
# path segments; no scheme and no tag.
IMAGE_HUB = r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*$"

# GitHub secret names hold letters, digits and `_` only (and do not start with a digit or GITHUB_,
# which the KUBECONFIG_/SIGNOZ_API_KEY_ prefixes rule out).
GITHUB_SECRET_SUFFIX = r"^[A-Za-z0-9_]+$"

# What each pattern means, for error messages (pydantic would print the regular expression).
PATTERN_MEANING = {
    DNS_LABEL: "must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending alphanumeric",
    QUANTITY: "must be a Kubernetes quantity such as 500m, 2, 512Mi or 20Gi",
    ATTRIBUTE_KEY: "must be an attribute key: a letter or '_' first, then letters, digits, '_', '.', '-' or '/'",
    TAG_NAME: "must be a tag name: a letter or '_' first, then letters, digits, '_', '.' or '-'",
    HOSTNAME: "must be a lower-case DNS host name such as kiali.example.com",
    OBJECT_NAME: "must be a Kubernetes object name: lower-case letters, digits, '-' and '.', starting and ending "
    "alphanumeric",
    GITHUB_SECRET_SUFFIX: "must be letters, digits and '_' only (GitHub's rule for secret names)",
    IMAGE_HUB: "must be an image registry path such as docker.io/istio or registry.example.com:5000/istio "
    "(no scheme, no tag)",
}

DnsLabel = Annotated[str, StringConstraints(strict=True, pattern=DNS_LABEL, max_length=63)]
NonEmptyStr = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=1024)]
Quantity = Annotated[str, StringConstraints(strict=True, pattern=QUANTITY, max_length=32)]
AttributeKey = Annotated[str, StringConstraints(strict=True, pattern=ATTRIBUTE_KEY, max_length=255)]
TagName = Annotated[str, StringConstraints(strict=True, pattern=TAG_NAME, max_length=255)]
Hostname = Annotated[str, StringConstraints(strict=True, pattern=HOSTNAME, max_length=253)]
ObjectName = Annotated[str, StringConstraints(strict=True, pattern=OBJECT_NAME, max_length=253)]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False, strict=True)]
PositiveInt = Annotated[StrictInt, Field(ge=1, le=1000)]


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/:?#]+(:[0-9]{1,5})?(/[^\s]*)?$", value):
        raise ValueError("must be an absolute http:// or https:// URL")
    return value.rstrip("/")


HttpUrl = Annotated[str, StringConstraints(strict=True, max_length=2048), AfterValidator(_http_url)]
GitHubSecretSuffix = Annotated[str, StringConstraints(strict=True, pattern=GITHUB_SECRET_SUFFIX, max_length=100)]


def _https_url(value: str) -> str:
    if not re.match(r"^https://[^\s/:?#{}]+(:[0-9]{1,5})?(/[^\s?#{}]*)?$", value):
        raise ValueError("must be an https:// URL without query or fragment, e.g. https://ingest.us.signoz.cloud:443")
    return value.rstrip("/")


HttpsUrl = Annotated[str, StringConstraints(strict=True, max_length=2048), AfterValidator(_https_url)]


def _chart_repository(value: str) -> str:
    if not re.match(r"^(https?|oci)://[^\s/?#]+(/[^\s?#]*)?$", value):
        raise ValueError("must be a Helm repository URL: https://… (or http://…), or an OCI registry path oci://…")
    return value.rstrip("/")


def _not_retired(value: str) -> str:
    for retired in RETIRED_LOCATIONS:
        if retired in value:
            raise ValueError(
                f"{retired} is retired by Istio (charts: https://blob.istio.io/istio-release/charts or "
                f"oci://ghcr.io/istio/release/charts; images: {ISTIO_HUB}, or a mirror of it)"
            )
    return value


ChartRepository = Annotated[
    str,
    StringConstraints(strict=True, max_length=2048),
    AfterValidator(_chart_repository),
    AfterValidator(_not_retired),
]
ImageHub = Annotated[
    str, StringConstraints(strict=True, pattern=IMAGE_HUB, max_length=255), AfterValidator(_not_retired)
]


def _supported(chart: ChartId) -> AfterValidator:
    """A chart version the version table lists (each listed version has conformance facts)."""

    def check(version: str) -> str:
        allowed = CHARTS[chart].versions
        if version not in allowed:
            raise ValueError(f"not a supported {CHARTS[chart].name} chart version; allowed: {', '.join(allowed)}")
        return version

    return AfterValidator(check)


class MtlsMode(enum.StrEnum):
    """PeerAuthentication `mtls.mode` values a stack may choose."""

    STRICT = "STRICT"
    PERMISSIVE = "PERMISSIVE"
    DISABLE = "DISABLE"


class TraceContext(enum.StrEnum):
    """Zipkin provider `traceContextOption` (Istio >= 1.28)."""

    B3 = "USE_B3"
    B3_AND_W3C = "USE_B3_WITH_W3C_PROPAGATION"


class ServiceType(enum.StrEnum):
    LOAD_BALANCER = "LoadBalancer"
    NODE_PORT = "NodePort"
    CLUSTER_IP = "ClusterIP"


class KialiAuthStrategy(enum.StrEnum):
    ANONYMOUS = "anonymous"
    TOKEN = "token"
    OPENID = "openid"


class PrometheusMode(enum.StrEnum):
    """Where Kiali's graph reads Istio metrics from."""

    EXTERNAL = "external"
    DEPLOY = "deploy"


class SigNozMode(enum.StrEnum):
    """Where the mesh's spans are stored: a SigNoz this stack deploys, or one that runs elsewhere."""

    DEPLOY = "deploy"
    REMOTE = "remote"


class RemoteAuth(enum.StrEnum):
    """How the agent authenticates to `signoz.remote.endpoint` (the key is `signozIngestKey`)."""

    BEARER = "bearer"  # `Authorization: Bearer <key>`: a central mesh-tracing stack's ingest
    SIGNOZ_CLOUD = "signozCloud"  # `signoz-ingestion-key: <key>`: SigNoz Cloud
    NONE = "none"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


# --------------------------------------------------------------------------- custom tags


class LiteralTag(_Model):
    value: NonEmptyStr


class EnvironmentTag(_Model):
    name: Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    default_value: str | None = None


class HeaderTag(_Model):
    name: Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")]
    default_value: str | None = None

    @field_validator("name")
    @classmethod
    def _not_a_credential(cls, name: str) -> str:
        if is_credential_header(name):
            raise ValueError(
                "this header carries credentials: a header tag copies its real value into every sampled span "
                "(defaultValue is only used when the header is missing). Remove the tag; the collector also "
                "deletes credential attributes"
            )
        return name


class CustomTag(_Model):
    """One Telemetry `customTags` entry: exactly one of literal, environment or header."""

    literal: LiteralTag | None = None
    environment: EnvironmentTag | None = None
    header: HeaderTag | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> CustomTag:
        chosen = [k for k in ("literal", "environment", "header") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise FieldError((), chosen, "needs exactly one of literal, environment, header")
        return self

    def to_spec(self) -> dict[str, object]:
        """The Telemetry CRD form (camelCase keys, unset fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True)


CustomTags = dict[TagName, CustomTag]

# Tag names the mesh-wide Telemetry always sets from `environment` and `cluster`.
RESERVED_TAG_NAMES = frozenset({"environment", "cluster"})


def _check_reserved_tags(tags: CustomTags | None) -> None:
    for name in sorted(RESERVED_TAG_NAMES & set(tags or {})):
        raise FieldError(("customTags", name), name, "reserved: set from mesh-tracing:environment/cluster")


# --------------------------------------------------------------------------- sizing


class ResourceList(_Model):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class Resources(_Model):
    requests: ResourceList = ResourceList()
    limits: ResourceList = ResourceList()

    def to_values(self) -> dict[str, dict[str, str]]:
        return {k: v for k, v in self.model_dump(exclude_none=True).items() if v}


# --------------------------------------------------------------------------- istio


class GatewaySettings(_Model):
    enabled: StrictBool = False
    namespace: DnsLabel = "istio-ingress"
    service_type: ServiceType = ServiceType.LOAD_BALANCER
    # With istio.revisions: the tag (or revision) whose control plane injects the gateway; absent =
    # the `default` tag.
    revision: DnsLabel | None = None


class IstiodSettings(_Model):
    autoscale_min: PositiveInt = 1
    autoscale_max: PositiveInt = 5
    resources: Resources = Resources(requests=ResourceList(cpu="500m", memory="2048Mi"))

    @model_validator(mode="after")
    def _min_le_max(self) -> IstiodSettings:
        if self.autoscale_min > self.autoscale_max:
            raise FieldError(
                ("autoscaleMin",), self.autoscale_min, f"must not exceed autoscaleMax ({self.autoscale_max})"
            )
        return self


class IstioRevision(_Model):
    """One control plane of a canary upgrade (`istio.revisions`): an istiod release of its own."""

    name: DnsLabel
    chart_version: Annotated[str, _supported(ChartId.ISTIOD)]


# The name of the revision that runs unrevisioned (istiod's chart value `revision: ""`) and of the
# tag namespaces without a revision follow.
DEFAULT_REVISION = "default"


class IstioSettings(_Model):
    chart_version: Annotated[str, _supported(ChartId.ISTIOD)] = CHARTS[ChartId.ISTIOD].default_version
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
    istiod: IstiodSettings = IstiodSettings()
    gateway: GatewaySettings = GatewaySettings()

    @model_validator(mode="after")
    def _checks(self) -> IstioSettings:
        _check_reserved_tags(self.custom_tags)
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


# --------------------------------------------------------------------------- signoz


class CollectorAutoscaling(_Model):
    enabled: StrictBool = False
    min_replicas: PositiveInt = 2
    max_replicas: PositiveInt = 6
    target_cpu_percent: Annotated[StrictInt, Field(ge=1, le=100)] = 70

    @model_validator(mode="after")
    def _min_le_max(self) -> CollectorAutoscaling:
        if self.min_replicas > self.max_replicas:
            raise FieldError(("minReplicas",), self.min_replicas, f"must not exceed maxReplicas ({self.max_replicas})")
        return self


class MemoryLimiter(_Model):
    """memory_limiter percentages of the container memory limit (which must therefore be set)."""

    limit_percent: Annotated[StrictInt, Field(ge=10, le=95)] = 80
    spike_limit_percent: Annotated[StrictInt, Field(ge=1, le=50)] = 20

    @model_validator(mode="after")
    def _spike_below_limit(self) -> MemoryLimiter:
        if self.spike_limit_percent >= self.limit_percent:
            raise FieldError(
                ("spikeLimitPercent",), self.spike_limit_percent, f"must be below limitPercent ({self.limit_percent})"
            )
        return self


class CollectorSettings(_Model):
    replicas: PositiveInt = 1
    resources: Resources = Resources(
        requests=ResourceList(cpu="100m", memory="256Mi"), limits=ResourceList(memory="512Mi")
    )
    autoscaling: CollectorAutoscaling = CollectorAutoscaling()
    memory_limiter: MemoryLimiter = MemoryLimiter()
    scrub_credential_attributes: StrictBool = True

    @model_validator(mode="after")
    def _limit_for_memory_limiter(self) -> CollectorSettings:
        if self.resources.limits.memory is None:
            raise FieldError(
                ("resources", "limits", "memory"), MISSING, "required: memory_limiter sizes itself from it"
            )
        return self

    @property
    def min_available_replicas(self) -> int:
        return self.autoscaling.min_replicas if self.autoscaling.enabled else self.replicas


class ClickHouseSettings(_Model):
    persistence_size: Quantity = "20Gi"
    storage_class: DnsLabel | None = None
    shards: Annotated[StrictInt, Field(ge=1, le=64)] = 1
    replicas: Annotated[StrictInt, Field(ge=1, le=8)] = 1
    zookeeper_replicas: Literal[1, 3, 5] = 1
    resources: Resources = Resources(
        requests=ResourceList(cpu="100m", memory="200Mi"), limits=ResourceList(memory="4Gi")
    )
    # Each of the operator's two containers (the operator and its metrics exporter).
    operator_resources: Resources = Resources(
        requests=ResourceList(cpu="50m", memory="64Mi"), limits=ResourceList(memory="256Mi")
    )
    # The chart's ZooKeeper runs a JVM with a fixed 1024 MB heap (the zookeeper chart's heapSize):
    # its limit leaves room for the heap and the JVM's own memory.
    zookeeper_resources: Resources = Resources(
        requests=ResourceList(cpu="100m", memory="256Mi"), limits=ResourceList(memory="1536Mi")
    )

    @model_validator(mode="after")
    def _replication_needs_quorum(self) -> ClickHouseSettings:
        if self.replicas > 1 and self.zookeeper_replicas < 3:
            raise FieldError(
                ("zookeeperReplicas",),
                self.zookeeper_replicas,
                f"must be 3 or 5 for a real quorum when replicas is {self.replicas}",
            )
        return self


# A queue counted in spans must hold one full batch of the agent's batch processor (the k8s-infra
# chart's 10 000 spans), or it refuses every full batch.
MIN_QUEUE_SPANS = 10_000


class RemoteSettings(_Model):
    """`signoz.mode: remote`: the k8s-infra agent forwards the mesh's spans to a SigNoz elsewhere."""

    # The OTLP/HTTP base URL; the exporter posts to <endpoint>/v1/traces.
    endpoint: HttpsUrl
    auth: RemoteAuth = RemoteAuth.BEARER
    insecure_skip_verify: StrictBool = False
    # The agent's sending queue, counted in spans (sizer: items), and how long a batch is retried.
    # Together they bound the central outage a node's agent rides out without losing spans.
    queue_spans: Annotated[StrictInt, Field(ge=MIN_QUEUE_SPANS, le=5_000_000)] = 50_000
    max_retry_seconds: Annotated[StrictInt, Field(ge=30, le=86_400)] = 900
    # The chart's log and metric collection stays off unless turned on here.
    collect_logs: StrictBool = False
    collect_metrics: StrictBool = False
    chart_version: Annotated[str, _supported(ChartId.K8S_INFRA)] = CHARTS[ChartId.K8S_INFRA].default_version

    @model_validator(mode="after")
    def _central_ingest_takes_traces_only(self) -> RemoteSettings:
        # A central mesh-tracing stack's ingest routes /v1/traces into a traces pipeline only: logs
        # and metrics sent there get 404, which the exporter does not retry.
        if self.auth is RemoteAuth.BEARER:
            for field, on in (("collectLogs", self.collect_logs), ("collectMetrics", self.collect_metrics)):
                if on:
                    raise FieldError(
                        (field,),
                        True,
                        "a central mesh-tracing stack ingests traces only; use auth 'signozCloud' or turn it off",
                    )
        return self


class IngestSettings(_Model):
    """A central (deploy-mode) stack's authenticated OTLP/HTTP receiver for other clusters."""

    host: Hostname
    ingress_class: DnsLabel = "nginx"
    tls_secret_name: ObjectName | None = None


class SigNozSettings(_Model):
    mode: SigNozMode = SigNozMode.DEPLOY
    remote: RemoteSettings | None = None
    ingest: IngestSettings | None = None
    chart_version: Annotated[str, _supported(ChartId.SIGNOZ)] = CHARTS[ChartId.SIGNOZ].default_version
    namespace: DnsLabel = "signoz"
    collector: CollectorSettings = CollectorSettings()
    clickhouse: ClickHouseSettings = ClickHouseSettings()
    trace_retention_days: Annotated[StrictInt, Field(ge=1, le=3650)] = 15
    ui_host: Hostname | None = None
    external_url: HttpUrl | None = None
    protect: StrictBool = False
    # The SigNoz container (UI, API, alerting) and the schema-migration containers (the Job's, and
    # the collector's init container that waits for them).
    resources: Resources = Resources(
        requests=ResourceList(cpu="100m", memory="100Mi"), limits=ResourceList(memory="1Gi")
    )
    migrator_resources: Resources = Resources(
        requests=ResourceList(cpu="50m", memory="64Mi"), limits=ResourceList(memory="512Mi")
    )

    @model_validator(mode="after")
    def _remote_matches_mode(self) -> SigNozSettings:
        if self.mode is SigNozMode.REMOTE and self.remote is None:
            raise FieldError(("remote",), MISSING, "required with mode 'remote': {endpoint, auth, …}")
        if self.mode is SigNozMode.DEPLOY and self.remote is not None:
            raise FieldError(("remote",), self.remote.model_dump(by_alias=True), "only used with mode 'remote'")
        return self

    @property
    def remote_mode(self) -> bool:
        return self.mode is SigNozMode.REMOTE


# --------------------------------------------------------------------------- tail sampling

# Envoy's Zipkin tracer sends a batch after 5 spans or 5000 ms (envoyproxy/envoy
# source/extensions/tracers/zipkin/zipkin_tracer_impl.cc, the runtime defaults min_flush_spans and
# request_timeout): a trace's last spans can reach the collector that long after they ended.
ENVOY_ZIPKIN_FLUSH_SECONDS = 5


class TailSamplingSettings(_Model):
    """`mesh-tracing:tailSampling`: keep every error (and slow) trace and a share of the rest, decided
    after the trace ends by the collector instead of by Envoy at its first span."""

    enabled: StrictBool = False
    # Error status (Envoy's error=true: a 5xx or no response), or a gRPC status other than OK.
    keep_errors: StrictBool = True
    # Whole-trace latency (earliest start to latest end) at or above which a trace is kept.
    slower_than_ms: Annotated[StrictInt, Field(ge=1, le=3_600_000)] | None = None
    # The probabilistic share of every other trace.
    percent: Percent = 1.0
    decision_wait_seconds: Annotated[StrictInt, Field(ge=1, le=600)] = 30
    router_replicas: PositiveInt = 2
    # New traces per second across the mesh, to size the traces each sampler holds in memory.
    expected_traces_per_second: Annotated[StrictInt, Field(ge=1, le=1_000_000)] = 100
    router_resources: Resources = Resources(
        requests=ResourceList(cpu="100m", memory="128Mi"), limits=ResourceList(memory="512Mi")
    )

    @model_validator(mode="after")
    def _wait_covers_the_flush(self) -> TailSamplingSettings:
        if self.router_resources.limits.memory is None:
            raise FieldError(
                ("routerResources", "limits", "memory"), MISSING, "required: memory_limiter sizes itself from it"
            )
        latest = ENVOY_ZIPKIN_FLUSH_SECONDS + (self.slower_than_ms or 0) / 1000
        if self.decision_wait_seconds <= latest:
            why = f"Envoy's Zipkin flush interval ({ENVOY_ZIPKIN_FLUSH_SECONDS} s)"
            if self.slower_than_ms:
                why += f" plus slowerThanMs ({self.slower_than_ms} ms)"
            raise FieldError(
                ("decisionWaitSeconds",),
                self.decision_wait_seconds,
                f"must be longer than {why}: a trace's last spans would arrive after its decision",
            )
        return self


# --------------------------------------------------------------------------- kiali


class OpenIdSettings(_Model):
    issuer_uri: HttpUrl
    client_id: NonEmptyStr
    username_claim: NonEmptyStr = "sub"
    scopes: list[NonEmptyStr] = ["openid", "profile", "email"]


class KialiAuth(_Model):
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


class PrometheusSettings(_Model):
    mode: PrometheusMode = PrometheusMode.DEPLOY
    url: HttpUrl | None = None
    chart_version: Annotated[str, _supported(ChartId.PROMETHEUS)] = CHARTS[ChartId.PROMETHEUS].default_version
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


class KialiSettings(_Model):
    enabled: StrictBool = True
    chart_version: Annotated[str, _supported(ChartId.KIALI)] = CHARTS[ChartId.KIALI].default_version
    auth: KialiAuth = KialiAuth()
    prometheus: PrometheusSettings = PrometheusSettings()
    ingress_host: Hostname | None = None
    ingress_class: DnsLabel = "nginx"
    signoz_url: HttpUrl | None = None
    # The kiali-server chart's own defaults, stated so a stack can see and change them.
    resources: Resources = Resources(requests=ResourceList(cpu="10m", memory="64Mi"), limits=ResourceList(memory="1Gi"))


# --------------------------------------------------------------------------- traced namespaces


def _name_to_object(value: object) -> object:
    return {"name": value} if isinstance(value, str) else value


class TracedNamespaceSettings(_Model):
    name: DnsLabel
    adopt: StrictBool = False
    # With istio.revisions: the tag (or revision) whose control plane injects its pods; absent = the
    # `default` tag.
    revision: DnsLabel | None = None
    sampling_percent: Percent | None = None
    mtls_mode: MtlsMode | None = None
    custom_tags: CustomTags | None = None

    @model_validator(mode="after")
    def _no_reserved_tags(self) -> TracedNamespaceSettings:
        _check_reserved_tags(self.custom_tags)
        return self


TracedNamespaceItem = Annotated[TracedNamespaceSettings, BeforeValidator(_name_to_object)]


# --------------------------------------------------------------------------- security


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError:
        raise ValueError(
            "must be a CIDR block such as 172.18.0.0/16 or 10.0.0.10/32, with no address bits set past the prefix"
        ) from None


Cidr = Annotated[str, StringConstraints(strict=True, max_length=64), AfterValidator(_cidr)]


class NetworkPolicySettings(_Model):
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


class SecuritySettings(_Model):
    network_policies: NetworkPolicySettings = NetworkPolicySettings()
    # Non-root, no privilege escalation, no capabilities, seccomp RuntimeDefault and, where the image
    # allows it, a read-only root filesystem for every pod whose chart offers the values.
    hardened_pods: StrictBool = True


# --------------------------------------------------------------------------- the stack


class StackSettings(_Model):
    environment: Annotated[DnsLabel, Field(description="the environment's name, e.g. dev or production")]
    cluster: Annotated[DnsLabel, Field(description="the cluster's name, e.g. prod-eu-west-1")]
    sampling_percent: Percent = 1.0
    mtls_mode: MtlsMode = MtlsMode.PERMISSIVE
    resource_attributes: dict[AttributeKey, NonEmptyStr] = {}
    istio: IstioSettings = IstioSettings()
    signoz: SigNozSettings = SigNozSettings()
    kiali: KialiSettings = KialiSettings()
    traced_namespaces: list[TracedNamespaceItem] = []
    # A small traced application with its own load generator, so a new cluster shows traces at once;
    # refused in production (components.settings).
    demo: StrictBool = False
    tail_sampling: TailSamplingSettings = TailSamplingSettings()
    # Air-gapped sites: every release comes from this internal repository (same chart names and
    # versions) instead of the public repositories of the version table.
    chart_repository: ChartRepository | None = None
    security: SecuritySettings = SecuritySettings()
    # Whether the production guard rails apply; unset: decided by the environment's name
    # (`decide_production`).
    production: StrictBool | None = None
    # The suffix of the GitHub secrets CI reads for this stack (KUBECONFIG_<suffix>,
    # SIGNOZ_API_KEY_<suffix>); unset: derived from the stack's name (`meshtools.stacks`).
    github_secret_suffix: GitHubSecretSuffix | None = None

    @property
    def production_decision(self) -> ProductionDecision:
        return decide_production(self.environment, self.production)

    @property
    def is_production(self) -> bool:
        """Undecided counts as production: the settings reader refuses such a stack anyway."""
        return self.production_decision.production is not False

    def repository_of(self, chart: ChartId) -> str:
        """Where a chart comes from: istio.chartRepository for Istio's, else chartRepository, else the
        version table's repository."""
        family_override = self.istio.chart_repository if CHARTS[chart].family is Family.ISTIO else None
        return family_override or self.chart_repository or CHARTS[chart].repository


def first_model(annotation: object) -> type[BaseModel] | None:
    """The pydantic model inside a field annotation (through Optional, list, dict, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = first_model(arg)
        if found is not None:
            return found
    return None
