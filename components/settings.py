"""Typed stack settings: the only place that reads `pulumi.Config`.

Every knob a stack file can turn is declared here as a frozen pydantic model, so a typo or an
out-of-range value fails the whole run *before* any resource is registered, with one line per
problem naming the full config key, the value given and what is allowed.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

import pulumi
from pulumi.runtime import config as runtime_config
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

from components.versions import CHARTS, ChartId

PROJECT = "mesh-tracing"

# Names Kubernetes reserves or that this program owns; traced namespaces may not use them.
KUBERNETES_SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "default"})

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

# Environments that get production guard rails (no anonymous Kiali unless explicitly allowed); the
# policy pack applies the same rule.
PRODUCTION_ENVIRONMENTS = frozenset({"prod", "production", "prd"})


def is_production(environment: str | None) -> bool:
    return environment in PRODUCTION_ENVIRONMENTS


_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_QUANTITY = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_ATTRIBUTE_KEY = r"^[A-Za-z_][A-Za-z0-9_.\-/]*$"
_TAG_NAME = r"^[A-Za-z_][A-Za-z0-9_.\-]*$"
_HOSTNAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

DnsLabel = Annotated[str, StringConstraints(strict=True, pattern=_DNS_LABEL, max_length=63)]
NonEmptyStr = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=1024)]
Quantity = Annotated[str, StringConstraints(strict=True, pattern=_QUANTITY, max_length=32)]
AttributeKey = Annotated[str, StringConstraints(strict=True, pattern=_ATTRIBUTE_KEY, max_length=255)]
TagName = Annotated[str, StringConstraints(strict=True, pattern=_TAG_NAME, max_length=255)]
Hostname = Annotated[str, StringConstraints(strict=True, pattern=_HOSTNAME, max_length=253)]
Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False, strict=True)]
PositiveInt = Annotated[StrictInt, Field(ge=1, le=1000)]


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/:?#]+(:[0-9]{1,5})?(/[^\s]*)?$", value):
        raise ValueError("must be an absolute http:// or https:// URL")
    return value.rstrip("/")


HttpUrl = Annotated[str, StringConstraints(strict=True, max_length=2048), AfterValidator(_http_url)]


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

    @model_validator(mode="after")
    def _not_a_credential(self) -> HeaderTag:
        lowered = self.name.lower()
        if lowered in CREDENTIAL_HEADER_NAMES or CREDENTIAL_HEADER_PATTERN.search(lowered):
            raise ValueError(
                f"header {self.name!r} carries credentials: a header tag copies its real value into every "
                "sampled span (defaultValue is only used when the header is missing). Remove the tag; "
                "the collector also deletes credential attributes"
            )
        return self


class CustomTag(_Model):
    """One Telemetry `customTags` entry: exactly one of literal, environment or header."""

    literal: LiteralTag | None = None
    environment: EnvironmentTag | None = None
    header: HeaderTag | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> CustomTag:
        chosen = [k for k in ("literal", "environment", "header") if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError(f"needs exactly one of literal, environment, header (got {chosen or 'none'})")
        return self

    def to_spec(self) -> dict[str, Any]:
        """The Telemetry CRD form (camelCase keys, unset fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True)


CustomTags = dict[TagName, CustomTag]

# Tag names the mesh-wide Telemetry always sets from `environment` and `cluster`.
RESERVED_TAG_NAMES = frozenset({"environment", "cluster"})


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


class IstiodSettings(_Model):
    autoscale_min: PositiveInt = 1
    autoscale_max: PositiveInt = 5
    resources: Resources = Resources(requests=ResourceList(cpu="500m", memory="2048Mi"))

    @model_validator(mode="after")
    def _min_le_max(self) -> IstiodSettings:
        if self.autoscale_min > self.autoscale_max:
            raise ValueError(f"autoscaleMin ({self.autoscale_min}) exceeds autoscaleMax ({self.autoscale_max})")
        return self


class IstioSettings(_Model):
    chart_version: str = CHARTS[ChartId.ISTIOD].default_version
    namespace: DnsLabel = "istio-system"
    revision: DnsLabel | None = None
    provider_name: DnsLabel = "signoz"
    max_tag_length: Annotated[StrictInt, Field(ge=1, le=65536)] = 256
    trace_context: TraceContext = TraceContext.B3_AND_W3C
    custom_tags: CustomTags = {}
    istiod: IstiodSettings = IstiodSettings()
    gateway: GatewaySettings = GatewaySettings()

    @model_validator(mode="after")
    def _checks(self) -> IstioSettings:
        _check_version(ChartId.ISTIOD, self.chart_version)
        clash = RESERVED_TAG_NAMES & set(self.custom_tags)
        if clash:
            raise ValueError(f"customTags {sorted(clash)} are set from mesh-tracing:environment/cluster")
        if self.gateway.enabled and self.gateway.namespace == self.namespace:
            raise ValueError("gateway.namespace must differ from the control-plane namespace")
        return self


def _check_version(chart: ChartId, version: str) -> None:
    allowed = CHARTS[chart].versions
    if version not in allowed:
        raise ValueError(f"chart version {version!r} has no conformance facts; allowed: {', '.join(allowed)}")


# --------------------------------------------------------------------------- signoz


class CollectorAutoscaling(_Model):
    enabled: StrictBool = False
    min_replicas: PositiveInt = 2
    max_replicas: PositiveInt = 6
    target_cpu_percent: Annotated[StrictInt, Field(ge=1, le=100)] = 70

    @model_validator(mode="after")
    def _min_le_max(self) -> CollectorAutoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"minReplicas ({self.min_replicas}) exceeds maxReplicas ({self.max_replicas})")
        return self


class MemoryLimiter(_Model):
    """memory_limiter percentages of the container memory limit (which must therefore be set)."""

    limit_percent: Annotated[StrictInt, Field(ge=10, le=95)] = 80
    spike_limit_percent: Annotated[StrictInt, Field(ge=1, le=50)] = 20

    @model_validator(mode="after")
    def _spike_below_limit(self) -> MemoryLimiter:
        if self.spike_limit_percent >= self.limit_percent:
            raise ValueError("spikeLimitPercent must be below limitPercent")
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
            raise ValueError("resources.limits.memory is required: memory_limiter sizes itself from it")
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
    resources: Resources = Resources(requests=ResourceList(cpu="100m", memory="200Mi"))

    @model_validator(mode="after")
    def _replication_needs_quorum(self) -> ClickHouseSettings:
        if self.replicas > 1 and self.zookeeper_replicas < 3:
            raise ValueError("replicas > 1 needs zookeeperReplicas 3 or 5 for a real quorum")
        return self


class SigNozSettings(_Model):
    chart_version: str = CHARTS[ChartId.SIGNOZ].default_version
    namespace: DnsLabel = "signoz"
    collector: CollectorSettings = CollectorSettings()
    clickhouse: ClickHouseSettings = ClickHouseSettings()
    trace_retention_days: Annotated[StrictInt, Field(ge=1, le=3650)] = 15
    ui_host: Hostname | None = None
    external_url: HttpUrl | None = None
    protect: StrictBool = False

    @model_validator(mode="after")
    def _checks(self) -> SigNozSettings:
        _check_version(ChartId.SIGNOZ, self.chart_version)
        return self


# --------------------------------------------------------------------------- kiali


class OpenIdSettings(_Model):
    issuer_uri: HttpUrl
    client_id: NonEmptyStr
    username_claim: NonEmptyStr = "sub"
    scopes: list[NonEmptyStr] = ["openid", "profile", "email"]


class KialiAuth(_Model):
    strategy: KialiAuthStrategy = KialiAuthStrategy.TOKEN
    allow_anonymous_in_production: StrictBool = False
    openid: OpenIdSettings | None = None

    @model_validator(mode="after")
    def _openid_needs_settings(self) -> KialiAuth:
        if self.strategy is KialiAuthStrategy.OPENID and self.openid is None:
            raise ValueError("strategy 'openid' needs auth.openid {issuerUri, clientId}")
        if self.strategy is not KialiAuthStrategy.OPENID and self.openid is not None:
            raise ValueError(f"auth.openid is only used with strategy 'openid', not {self.strategy.value!r}")
        return self


class PrometheusSettings(_Model):
    mode: PrometheusMode = PrometheusMode.DEPLOY
    url: HttpUrl | None = None
    chart_version: str = CHARTS[ChartId.PROMETHEUS].default_version
    retention: Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9]+[smhdwy]$")] = "7d"
    persistence_size: Quantity = "8Gi"

    @model_validator(mode="after")
    def _url_matches_mode(self) -> PrometheusSettings:
        _check_version(ChartId.PROMETHEUS, self.chart_version)
        if self.mode is PrometheusMode.EXTERNAL and self.url is None:
            raise ValueError("mode 'external' needs prometheus.url (the Prometheus HTTP API Kiali queries)")
        if self.mode is PrometheusMode.DEPLOY and self.url is not None:
            raise ValueError("prometheus.url is only used with mode 'external'; mode 'deploy' sets it")
        return self


class KialiSettings(_Model):
    enabled: StrictBool = True
    chart_version: str = CHARTS[ChartId.KIALI].default_version
    auth: KialiAuth = KialiAuth()
    prometheus: PrometheusSettings = PrometheusSettings()
    ingress_host: Hostname | None = None
    ingress_class: DnsLabel = "nginx"
    signoz_url: HttpUrl | None = None

    @model_validator(mode="after")
    def _checks(self) -> KialiSettings:
        _check_version(ChartId.KIALI, self.chart_version)
        return self


# --------------------------------------------------------------------------- traced namespaces


def _name_to_object(value: object) -> object:
    return {"name": value} if isinstance(value, str) else value


class TracedNamespaceSettings(_Model):
    name: DnsLabel
    adopt: StrictBool = False
    sampling_percent: Percent | None = None
    mtls_mode: MtlsMode | None = None
    custom_tags: CustomTags | None = None

    @model_validator(mode="after")
    def _no_reserved_tags(self) -> TracedNamespaceSettings:
        clash = RESERVED_TAG_NAMES & set(self.custom_tags or {})
        if clash:
            raise ValueError(f"customTags {sorted(clash)} are set from mesh-tracing:environment/cluster")
        return self


TracedNamespaceItem = Annotated[TracedNamespaceSettings, BeforeValidator(_name_to_object)]


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


@dataclass(frozen=True)
class Secrets:
    """Secret config values; they exist only as secret Outputs, never as plain strings."""

    clickhouse_password: pulumi.Output[str] | None
    kiali_signing_key: pulumi.Output[str] | None
    kiali_oidc_client_secret: pulumi.Output[str] | None


@dataclass(frozen=True)
class LoadedConfig:
    settings: StackSettings
    secrets: Secrets


# --------------------------------------------------------------------------- problems


SECRET_KEYS = ("clickhousePassword", "kialiSigningKey", "kialiOidcClientSecret")
# Kiali accepts only these signing-key lengths (AES key sizes).
KIALI_SIGNING_KEY_LENGTHS = (16, 24, 32)
_JSON_KEYS = frozenset({"samplingPercent", "resourceAttributes", "tracedNamespaces", "istio", "signoz", "kiali"})
_TOP_LEVEL_KEYS = tuple((field.alias or name) for name, field in StackSettings.model_fields.items())


@dataclass(frozen=True)
class Problem:
    key: str
    value: object
    allowed: str

    def __str__(self) -> str:
        shown = "<missing>" if self.value is _MISSING else _show(self.value)
        return f"{self.key}: got {shown} — {self.allowed}"


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


def _show(value: object) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


class SettingsError(Exception):
    """Raised with every config problem at once, before any resource is registered."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid stack configuration ({len(self.problems)} problem(s)):\n{lines}")


def _key_path(loc: tuple[int | str, ...]) -> str:
    path = f"{PROJECT}:"
    for i, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "[key]":
            continue
        elif not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", part) or (i > 0 and _is_map_key(loc, i)):
            path += f'["{part}"]'
        else:
            path += ("." if i > 0 else "") + part
    return path


_MAP_FIELDS = frozenset({"resourceAttributes", "customTags"})


def _is_map_key(loc: tuple[int | str, ...], i: int) -> bool:
    return isinstance(loc[i - 1], str) and loc[i - 1] in _MAP_FIELDS


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model whose keys are allowed at `loc`, to list them in an unknown-key error."""
    model: type[BaseModel] = StackSettings
    skip_map_key = False
    for part in loc:
        if isinstance(part, int) or part == "[key]":
            continue
        if skip_map_key:
            skip_map_key = False
            continue
        fields = {field.alias or name: field for name, field in model.model_fields.items()}
        if part not in fields:
            return None
        skip_map_key = part in _MAP_FIELDS
        found = _first_model(fields[part].annotation)
        if found is None:
            return None
        model = found
    return model


def _first_model(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _first_model(arg)
        if found is not None:
            return found
    return None


_PATTERN_MEANING = {
    _DNS_LABEL: "must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending alphanumeric",
    _QUANTITY: "must be a Kubernetes quantity such as 500m, 2, 512Mi or 20Gi",
    _ATTRIBUTE_KEY: "must be an attribute key: a letter or '_' first, then letters, digits, '_', '.', '-' or '/'",
    _TAG_NAME: "must be a tag name: a letter or '_' first, then letters, digits, '_', '.' or '-'",
    _HOSTNAME: "must be a lower-case DNS host name such as kiali.example.com",
}


def _problems_from(error: ValidationError, prefix: tuple[int | str, ...]) -> list[Problem]:
    problems = []
    for err in error.errors(include_url=False):
        loc = prefix + tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            owner = _model_at(loc[:-1])
            keys = ", ".join(f.alias or n for n, f in owner.model_fields.items()) if owner else "see README"
            problems.append(Problem(_key_path(loc), err["input"], f"unknown key; allowed keys here: {keys}"))
            continue
        if err["type"] == "missing":
            problems.append(Problem(_key_path(loc), _MISSING, "required"))
            continue
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "string_pattern_mismatch":
            message = _PATTERN_MEANING.get(str(err.get("ctx", {}).get("pattern")), message)
        problems.append(Problem(_key_path(loc), err["input"], message))
    return problems


def _section_adapter(field: FieldInfo) -> TypeAdapter[Any]:
    # The constraints of an `Annotated` field type live in `metadata`, not in `annotation`.
    annotation: Any = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    return TypeAdapter(annotation)


_SECTION_ADAPTERS = {name: _section_adapter(field) for name, field in StackSettings.model_fields.items()}


def validate_settings(raw: Mapping[str, object]) -> StackSettings:
    """Validate plain config values (camelCase keys, parsed JSON) into settings, or raise SettingsError.

    Each top-level key is validated on its own so one bad section never hides problems in another,
    then the cross-key rules run over whatever sections were valid.
    """
    problems: list[Problem] = []
    for key in raw:
        if key not in _TOP_LEVEL_KEYS:
            problems.append(
                Problem(f"{PROJECT}:{key}", raw[key], f"unknown key; allowed: {', '.join(_TOP_LEVEL_KEYS)}")
            )
    sections: dict[str, Any] = {}
    for name, field in StackSettings.model_fields.items():
        alias = field.alias or name
        if alias not in raw:
            if field.is_required():
                problems.append(Problem(f"{PROJECT}:{alias}", _MISSING, f"required ({field.description or alias})"))
            continue
        try:
            sections[name] = _SECTION_ADAPTERS[name].validate_python(raw[alias])
        except ValidationError as error:
            problems.extend(_problems_from(error, (alias,)))
    problems.extend(_cross_key_problems(sections))
    if problems:
        raise SettingsError(problems)
    return StackSettings(**sections)


def _cross_key_problems(sections: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    istio: IstioSettings = sections.get("istio", IstioSettings())
    signoz: SigNozSettings = sections.get("signoz", SigNozSettings())
    kiali: KialiSettings = sections.get("kiali", KialiSettings())
    owned = {
        istio.namespace: "the Istio control-plane namespace (mesh-tracing:istio.namespace)",
        signoz.namespace: "the SigNoz namespace (mesh-tracing:signoz.namespace)",
    }
    if istio.gateway.enabled:
        owned[istio.gateway.namespace] = "the ingress gateway namespace (mesh-tracing:istio.gateway.namespace)"
    if signoz.namespace == istio.namespace:
        problems.append(Problem(f"{PROJECT}:signoz.namespace", signoz.namespace, "must differ from istio.namespace"))
    seen: dict[str, int] = {}
    for index, item in enumerate(sections.get("traced_namespaces", [])):
        key = f"{PROJECT}:tracedNamespaces[{index}].name"
        if item.name in KUBERNETES_SYSTEM_NAMESPACES:
            problems.append(Problem(key, item.name, "a Kubernetes system namespace cannot be traced"))
        elif item.name in owned:
            problems.append(Problem(key, item.name, f"is {owned[item.name]}; choose an application namespace"))
        if item.name in seen:
            problems.append(Problem(key, item.name, f"duplicate of tracedNamespaces[{seen[item.name]}]"))
        seen.setdefault(item.name, index)
    attributes: Mapping[str, str] = sections.get("resource_attributes", {})
    for reserved, source in (("deployment.environment", "environment"), ("k8s.cluster.name", "cluster")):
        if reserved in attributes:
            problems.append(
                Problem(
                    f'{PROJECT}:resourceAttributes["{reserved}"]',
                    attributes[reserved],
                    f"set from mesh-tracing:{source}; remove it here",
                )
            )
    environment = sections.get("environment")
    if (
        is_production(environment)
        and kiali.enabled
        and kiali.auth.strategy is KialiAuthStrategy.ANONYMOUS
        and not kiali.auth.allow_anonymous_in_production
    ):
        problems.append(
            Problem(
                f"{PROJECT}:kiali.auth.strategy",
                "anonymous",
                f"anonymous Kiali in environment {environment!r} needs kiali.auth.allowAnonymousInProduction: "
                "true; use 'token' or 'openid'",
            )
        )
    return problems


# --------------------------------------------------------------------------- reading pulumi config


def _present_keys() -> list[str]:
    """Every `mesh-tracing:*` key the stack sets, so misspelt keys are reported, not ignored."""
    prefix = f"{PROJECT}:"
    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    return sorted(k.removeprefix(prefix) for k in keys if k.startswith(prefix))


def _is_secret(key: str) -> bool:
    """Secret per the runtime's key set (set_all_config) or the CLI's PULUMI_CONFIG_SECRET_KEYS."""
    return runtime_config.is_config_secret(key) or key in runtime_config.get_config_secret_keys_env()


def read_raw_config() -> tuple[dict[str, object], list[Problem]]:
    """Stack config as plain values: JSON-typed keys parsed, secrets left out."""
    config = pulumi.Config(PROJECT)
    raw: dict[str, object] = {}
    problems: list[Problem] = []
    for key in _present_keys():
        if key in SECRET_KEYS:
            if not _is_secret(f"{PROJECT}:{key}"):
                problems.append(
                    Problem(f"{PROJECT}:{key}", "<plain text>", "must be set with `pulumi config set --secret`")
                )
            elif key == "kialiSigningKey" and len(config.get(key) or "") not in KIALI_SIGNING_KEY_LENGTHS:
                # Only the length is inspected; the value itself is never shown or kept.
                problems.append(Problem(f"{PROJECT}:{key}", "<secret>", "must be exactly 16, 24 or 32 characters long"))
            continue
        text = config.get(key)
        if text is None:
            continue
        if key in _JSON_KEYS:
            try:
                raw[key] = json.loads(text)
            except json.JSONDecodeError:
                raw[key] = text
        else:
            raw[key] = text
    return raw, problems


def load_settings() -> LoadedConfig:
    """Read and validate the whole stack config; raise SettingsError listing every problem."""
    raw, problems = read_raw_config()
    settings: StackSettings | None = None
    try:
        settings = validate_settings(raw)
    except SettingsError as error:
        problems.extend(error.problems)
    if problems or settings is None:
        raise SettingsError(problems)
    config = pulumi.Config(PROJECT)
    return LoadedConfig(
        settings=settings,
        secrets=Secrets(
            clickhouse_password=config.get_secret("clickhousePassword"),
            kiali_signing_key=config.get_secret("kialiSigningKey"),
            kiali_oidc_client_secret=config.get_secret("kialiOidcClientSecret"),
        ),
    )
