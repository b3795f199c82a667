"""Building blocks of the settings: constrained types, patterns with their meaning, enums, the
frozen base model, custom span tags and resource sizes.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    StrictInt,
    StringConstraints,
    Tag,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel, to_snake

from config.problems import FieldError
from versions.table import CHARTS, ISTIO_HUB, RETIRED_LOCATIONS, ChartId

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
# `extraValues` of a Helm release: chart values the settings do not model, merged last and deeply
# into the values the program computes (config/extra_values.py refuses the paths the program sets
# itself and those the pinned chart lacks).
ExtraValues = dict[Annotated[str, StringConstraints(strict=True, min_length=1)], JsonValue]
# The chart values of one release the program sets itself: path (keys joined by dots, a key holding
# dots as ["key"]) → where the program takes the value from, read after "set by the program ".
# Declared beside the settings that own them; a release's `extraValues` may not set these.
OwnedPaths = Mapping[str, str]


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


def supported_version(chart: ChartId) -> AfterValidator:
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


def mode_of(field: str, default: str) -> Discriminator:
    """The discriminator of a settings union: the value of `field` (by its stack-file name), or
    `default` where a stack file leaves it out, so stack files keep their shape."""

    def tag(value: object) -> str:
        if isinstance(value, dict):
            chosen = value.get(field, default)
            return str(getattr(chosen, "value", chosen))
        return str(getattr(getattr(value, to_snake(field), default), "value", default))

    return Discriminator(tag)


class SettingsModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)
    # A member of a settings union: what choosing it means, in the refusal of another member's keys
    # ("with signoz.mode 'remote' <mode_note>").
    mode_note: ClassVar[str] = ""


@dataclass(frozen=True)
class SettingsUnion:
    """A settings block whose keys depend on one of them (`mode_of`): its members by tag."""

    key: str
    members: dict[str, type[SettingsModel]]


def settings_union(annotation: object) -> SettingsUnion | None:
    """The settings union a field annotation is, or None (an Optional is not one)."""
    members: dict[str, type[SettingsModel]] = {}
    for arg in get_args(annotation):
        if get_origin(arg) is Annotated:
            model, *metadata = get_args(arg)
            members.update({found.tag: model for found in metadata if isinstance(found, Tag)})
    if not members:
        return None
    first = next(iter(members.values()))
    key = next(
        field.alias or name
        for name, field in first.model_fields.items()
        if get_origin(field.annotation) is Literal and all(name in model.model_fields for model in members.values())
    )
    return SettingsUnion(key, members)


# --------------------------------------------------------------------------- custom tags


class LiteralTag(SettingsModel):
    value: NonEmptyStr


class EnvironmentTag(SettingsModel):
    name: Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    default_value: str | None = None


class HeaderTag(SettingsModel):
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


class CustomTag(SettingsModel):
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


def check_reserved_tags(tags: CustomTags | None) -> None:
    for name in sorted(RESERVED_TAG_NAMES & set(tags or {})):
        raise FieldError(("customTags", name), name, "reserved: set from mesh-tracing:environment/cluster")


# --------------------------------------------------------------------------- sizing


class ResourceList(SettingsModel):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class Resources(SettingsModel):
    requests: ResourceList = ResourceList()
    limits: ResourceList = ResourceList()

    def to_values(self) -> dict[str, dict[str, str]]:
        return {k: v for k, v in self.model_dump(exclude_none=True).items() if v}
