"""Stack settings: the only place that reads a stack's config, for the program and for the tools.

`load_settings()` reads `pulumi.Config` inside `pulumi up`/`preview` (and under mocks);
`settings_from_config()` takes a stack file's `config:` block for the offline tools. Both go through
`parse_config` and `validate_settings`, so a key means the same thing everywhere, and every problem
is reported at once — one line each, naming the full key, the value given and what is allowed —
before any resource is registered.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import pulumi
from pulumi.runtime import config as runtime_config
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from components import naming
from components.models import (
    KUBERNETES_RESERVED_PREFIX,
    KUBERNETES_SYSTEM_NAMESPACES,
    PATTERN_MEANING,
    IstioSettings,
    KialiAuthStrategy,
    MtlsMode,
    RemoteAuth,
    SigNozSettings,
    StackSettings,
    first_model,
    is_production,
)
from components.problems import MAP_FIELDS, MISSING, PROJECT, FieldError, Problem, SettingsError, key_path

# Secret config keys: read with get_secret, never as plain values.
SECRET_KEYS = ("clickhousePassword", "kialiSigningKey", "kialiOidcClientSecret", "signozIngestKey")
INGEST_KEY = "signozIngestKey"
# The ingest key is an HTTP header value and a line of the central collector's token file.
INGEST_KEY_MIN_LENGTH = 16
# Keys of `signoz` (and of `signoz.collector`) that configure the SigNoz a deploy-mode stack runs;
# a remote-mode stack runs only the agent, so setting them there is a mistake worth naming.
DEPLOY_ONLY_SIGNOZ_KEYS = (
    "chartVersion",
    "clickhouse",
    "traceRetentionDays",
    "uiHost",
    "externalUrl",
    "ingest",
    "resources",
    "migratorResources",
)
DEPLOY_ONLY_COLLECTOR_KEYS = ("replicas", "autoscaling")
# Kiali accepts only these signing-key lengths (AES key sizes).
KIALI_SIGNING_KEY_LENGTHS = (16, 24, 32)
# Pulumi's own key for the cluster the default Kubernetes provider deploys to.
KUBE_CONTEXT_KEY = "kubernetes:context"
# Config namespaces a stack file may hold besides ours (provider settings).
OTHER_NAMESPACES = frozenset({"kubernetes", "random", "pulumi"})
_TOP_LEVEL_KEYS = tuple((field.alias or name) for name, field in StackSettings.model_fields.items())
# Keys whose value is text even when it looks like JSON (an environment named "123" stays a name).
_TEXT_KEYS = frozenset({"environment", "cluster", "mtlsMode"})


@dataclass(frozen=True)
class Secrets:
    """Secret config values; they exist only as secret Outputs, never as plain strings."""

    clickhouse_password: pulumi.Output[str] | None
    kiali_signing_key: pulumi.Output[str] | None
    kiali_oidc_client_secret: pulumi.Output[str] | None
    signoz_ingest_key: pulumi.Output[str] | None


@dataclass(frozen=True)
class LoadedConfig:
    settings: StackSettings
    secrets: Secrets
    kube_context: str | None


@dataclass(frozen=True)
class StackConfig:
    """A stack file's settings as the offline tools see them (secrets stay encrypted and unread)."""

    settings: StackSettings
    kube_context: str | None


# --------------------------------------------------------------------------- config text → plain values


def _looks_like_ours(namespace: str) -> bool:
    """`meshtracing`, `mesh_tracing`, `mesh-tracng`: a namespace someone meant to be ours."""
    squeezed = namespace.lower().replace("-", "").replace("_", "")
    return squeezed == PROJECT.replace("-", "") or difflib.SequenceMatcher(None, namespace, PROJECT).ratio() >= 0.8


def _as_value(text: object) -> object:
    """Config the CLI passes is text (objects and numbers as JSON); a stack file read with YAML is
    already structured. `pulumi config set …samplingPercent 5` stores "5", which means 5."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_config(
    config: Mapping[str, object], secret_keys: Collection[str]
) -> tuple[dict[str, object], list[Problem], str | None]:
    """Split a stack's whole config (`namespace:key` → value) into our keys' plain values, the
    problems found on the way, and the `kubernetes:context` it names."""
    raw: dict[str, object] = {}
    problems: list[Problem] = []
    context: str | None = None
    for qualified in sorted(config):
        value = config[qualified]
        namespace, _, key = qualified.partition(":")
        if qualified == KUBE_CONTEXT_KEY:
            context = value if isinstance(value, str) and value else None
            if context is None:
                problems.append(Problem(KUBE_CONTEXT_KEY, value, "must be the name of a kube context"))
            continue
        if namespace != PROJECT:
            if namespace not in OTHER_NAMESPACES and _looks_like_ours(namespace):
                problems.append(
                    Problem(qualified, value, f"unknown config namespace {namespace!r}; did you mean {PROJECT}:{key}?")
                )
            continue
        if key in SECRET_KEYS:
            problems.extend(_secret_problems(key, value, qualified in secret_keys))
            continue
        raw[key] = value if key in _TEXT_KEYS else _as_value(value)
    return raw, problems, context


def _secret_problems(key: str, value: object, is_secret: bool) -> list[Problem]:
    qualified = f"{PROJECT}:{key}"
    if not is_secret:
        return [Problem(qualified, "<plain text>", "must be set with `pulumi config set --secret`")]
    # Only the length is inspected (when the value is known); the value itself is never shown or kept.
    if key == "kialiSigningKey" and isinstance(value, str) and len(value) not in KIALI_SIGNING_KEY_LENGTHS:
        return [Problem(qualified, "<secret>", "must be exactly 16, 24 or 32 characters long")]
    if key == INGEST_KEY and isinstance(value, str) and (len(value) < INGEST_KEY_MIN_LENGTH or _has_space(value)):
        return [
            Problem(
                qualified,
                "<secret>",
                f"must be at least {INGEST_KEY_MIN_LENGTH} characters without spaces or line breaks "
                "(it travels as an HTTP header and is a line of the collector's token file)",
            )
        ]
    return []


def _has_space(value: str) -> bool:
    return any(character.isspace() for character in value)


def is_encrypted(value: object) -> bool:
    """A `secure:` value of a stack file: a secret, readable only through the Pulumi CLI."""
    return isinstance(value, Mapping) and set(value) == {"secure"}


def secrets_present(config: Mapping[str, object]) -> frozenset[str]:
    """Our secret keys (unqualified) that a stack's config sets, whatever their value."""
    prefix = f"{PROJECT}:"
    return frozenset(k.removeprefix(prefix) for k in config if k.startswith(prefix) and k[len(prefix) :] in SECRET_KEYS)


# --------------------------------------------------------------------------- plain values → settings


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
        skip_map_key = part in MAP_FIELDS
        found = first_model(fields[part].annotation)
        if found is None:
            return None
        model = found
    return model


def _problems_from(error: ValidationError, prefix: tuple[int | str, ...]) -> list[Problem]:
    problems = []
    for err in error.errors(include_url=False):
        loc = prefix + tuple(err["loc"])
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):
            problems.append(Problem(key_path(loc + cause.path), cause.value, cause.message))
            continue
        if err["type"] == "extra_forbidden":
            owner = _model_at(loc[:-1])
            keys = (
                ", ".join(f.alias or n for n, f in owner.model_fields.items()) if owner else "see docs/configuration.md"
            )
            problems.append(Problem(key_path(loc), err["input"], f"unknown key; allowed keys here: {keys}"))
            continue
        if err["type"] == "missing":
            problems.append(Problem(key_path(loc), MISSING, "required"))
            continue
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "string_pattern_mismatch":
            message = PATTERN_MEANING.get(str((err.get("ctx") or {}).get("pattern")), message)
        problems.append(Problem(key_path(loc), err["input"], message))
    return problems


def _section_adapter(field: FieldInfo) -> TypeAdapter[Any]:
    # The constraints of an `Annotated` field type live in `metadata`, not in `annotation`.
    annotation: Any = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    return TypeAdapter(annotation)


_SECTION_ADAPTERS = {name: _section_adapter(field) for name, field in StackSettings.model_fields.items()}


def validate_settings(
    raw: Mapping[str, object], *, kube_context: str | None = None, secrets: Collection[str] = ()
) -> StackSettings:
    """Validate plain config values (camelCase keys, parsed JSON) into settings, or raise SettingsError.

    Each top-level key is validated on its own so one bad section never hides problems in another,
    then the cross-section rules run over whatever sections were valid. `secrets` names the secret
    keys the stack sets (their values are never needed here), for rules that require one.
    """
    problems: list[Problem] = []
    for key in raw:
        if key not in _TOP_LEVEL_KEYS:
            close = difflib.get_close_matches(key, _TOP_LEVEL_KEYS, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            problems.append(
                Problem(f"{PROJECT}:{key}", raw[key], f"unknown key; {hint}allowed: {', '.join(_TOP_LEVEL_KEYS)}")
            )
    sections: dict[str, Any] = {}
    for name, field in StackSettings.model_fields.items():
        alias = field.alias or name
        if alias not in raw:
            if field.is_required():
                problems.append(Problem(f"{PROJECT}:{alias}", MISSING, f"required ({field.description or alias})"))
            continue
        try:
            sections[name] = _SECTION_ADAPTERS[name].validate_python(raw[alias])
        except ValidationError as error:
            problems.extend(_problems_from(error, (alias,)))
    problems.extend(_cross_section_problems(sections, kube_context, frozenset(secrets)))
    if problems:
        raise SettingsError(problems)
    return StackSettings(**sections)


def _cross_section_problems(
    sections: Mapping[str, Any], kube_context: str | None, secrets: frozenset[str]
) -> list[Problem]:
    istio = sections.get("istio", IstioSettings())
    signoz = sections.get("signoz", SigNozSettings())
    problems = _namespace_problems(sections, istio.namespace, signoz.namespace, istio.gateway)
    problems.extend(_namespace_revision_problems(sections, istio))
    problems.extend(_signoz_mode_problems(sections, signoz, secrets))
    attributes: Mapping[str, str] = sections.get("resource_attributes", {})
    for reserved, source in (("deployment.environment", "environment"), ("k8s.cluster.name", "cluster")):
        if reserved in attributes:
            problems.append(
                Problem(
                    f'{PROJECT}:resourceAttributes["{reserved}"]',
                    attributes[reserved],
                    f"reserved: set from {PROJECT}:{source}; remove it here",
                )
            )
    if is_production(sections.get("environment")):
        problems.extend(_production_problems(sections, kube_context))
    return problems


def _namespace_problems(sections: Mapping[str, Any], istio_ns: str, signoz_ns: str, gateway: Any) -> list[Problem]:
    problems: list[Problem] = []
    owned = {
        istio_ns: f"the Istio control-plane namespace ({PROJECT}:istio.namespace)",
        signoz_ns: f"the SigNoz namespace ({PROJECT}:signoz.namespace)",
    }
    if gateway.enabled:
        owned[gateway.namespace] = f"the ingress gateway namespace ({PROJECT}:istio.gateway.namespace)"
    if signoz_ns == istio_ns:
        problems.append(Problem(f"{PROJECT}:signoz.namespace", signoz_ns, "must differ from istio.namespace"))
    if sections.get("demo"):
        # The demo creates, labels and on destroy deletes this namespace: nothing else may use it.
        platform = {"istio.namespace": istio_ns, "signoz.namespace": signoz_ns}
        if gateway.enabled:
            platform["istio.gateway.namespace"] = gateway.namespace
        problems.extend(
            Problem(f"{PROJECT}:{key}", name, f"is the demo namespace while {PROJECT}:demo is true; choose another")
            for key, name in platform.items()
            if name == naming.DEMO_NAMESPACE
        )
        owned.setdefault(naming.DEMO_NAMESPACE, f"the demo namespace, which {PROJECT}:demo creates and traces")
    seen: dict[str, int] = {}
    for index, item in enumerate(sections.get("traced_namespaces", [])):
        key = f"{PROJECT}:tracedNamespaces[{index}].name"
        if item.name in KUBERNETES_SYSTEM_NAMESPACES or item.name.startswith(KUBERNETES_RESERVED_PREFIX):
            problems.append(Problem(key, item.name, "Kubernetes' own namespaces (default, kube-*) cannot be traced"))
        elif item.name in owned:
            problems.append(Problem(key, item.name, f"is {owned[item.name]}; choose an application namespace"))
        if item.name in seen:
            problems.append(Problem(key, item.name, f"duplicate of tracedNamespaces[{seen[item.name]}]"))
        seen.setdefault(item.name, index)
    return problems


def _namespace_revision_problems(sections: Mapping[str, Any], istio: IstioSettings) -> list[Problem]:
    """A traced namespace's (and the gateway's) `revision` names a tag or a revision of istio.revisions.
    Skipped while the istio section itself is invalid: its tags and revisions are unknown then."""
    if "istio" not in sections:
        return []
    chosen = [
        (f"tracedNamespaces[{index}].revision", item.revision)
        for index, item in enumerate(sections.get("traced_namespaces", []))
    ]
    chosen.append(("istio.gateway.revision", istio.gateway.revision))
    problems: list[Problem] = []
    for key, revision in chosen:
        if revision is None:
            continue
        if istio.revisions is None:
            why = "only used with istio.revisions (one control plane serves all)"
            problems.append(Problem(f"{PROJECT}:{key}", revision, why))
        elif revision not in {*istio.tags, *istio.revision_names()}:
            known = f"not a tag ({', '.join(istio.tags)}) or revision ({', '.join(istio.revision_names())}) of istio"
            problems.append(Problem(f"{PROJECT}:{key}", revision, known))
    return problems


def _shown(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, mode="json", exclude_unset=True)  # as the stack file has it
    return getattr(value, "value", value)


def _signoz_mode_problems(
    sections: Mapping[str, Any], signoz: SigNozSettings, secrets: frozenset[str]
) -> list[Problem]:
    """Keys that only one `signoz.mode` uses, and the ingest key the chosen setup needs."""
    problems: list[Problem] = []
    if signoz.remote_mode:
        why = "deploy mode only: with signoz.mode 'remote' no SigNoz runs in this cluster; remove it"
        for key in DEPLOY_ONLY_SIGNOZ_KEYS:
            name = _field_name(SigNozSettings, key)
            if name in signoz.model_fields_set:
                problems.append(Problem(f"{PROJECT}:signoz.{key}", _shown(getattr(signoz, name)), why))
        for key in DEPLOY_ONLY_COLLECTOR_KEYS:
            name = _field_name(type(signoz.collector), key)
            if name in signoz.collector.model_fields_set:
                value = _shown(getattr(signoz.collector, name))
                problems.append(
                    Problem(f"{PROJECT}:signoz.collector.{key}", value, f"{why} (the agent runs on every node)")
                )
        for key, value in sorted(sections.get("resource_attributes", {}).items()):
            if "{{" in value:
                # The k8s-infra chart passes its collector config through Helm's `tpl`.
                problems.append(
                    Problem(f'{PROJECT}:resourceAttributes["{key}"]', value, "must not contain '{{' in mode 'remote'")
                )
    needs_key = []
    if signoz.remote is not None and signoz.remote.auth is not RemoteAuth.NONE:
        needs_key.append(f"signoz.remote.auth is {signoz.remote.auth.value!r}")
    if signoz.ingest is not None and not signoz.remote_mode:
        needs_key.append("signoz.ingest checks it on every request")
    if needs_key and INGEST_KEY not in secrets:
        problems.append(
            Problem(
                f"{PROJECT}:{INGEST_KEY}",
                MISSING,
                f"required: {'; '.join(needs_key)} (`pulumi config set --secret {PROJECT}:{INGEST_KEY} <key>`)",
            )
        )
    return problems


def _field_name(model: type[BaseModel], alias: str) -> str:
    return next(name for name, field in model.model_fields.items() if (field.alias or name) == alias)


def _production_problems(sections: Mapping[str, Any], kube_context: str | None) -> list[Problem]:
    """The production guard rails, checked at config time with the key at fault; the mandatory
    policies of the policy pack enforce the same rules again on what the program registers."""
    environment = sections["environment"]
    why = f"{environment!r} is a production environment"
    problems: list[Problem] = []
    if kube_context is None:
        problems.append(
            Problem(
                KUBE_CONTEXT_KEY,
                MISSING,
                f"required: {why}, so the stack names the cluster it deploys to "
                "(`pulumi config set kubernetes:context <context>`)",
            )
        )
    mode = sections.get("mtls_mode")
    if mode is not None and mode is not MtlsMode.STRICT:
        problems.append(Problem(f"{PROJECT}:mtlsMode", mode.value, f"must be STRICT: {why}"))
    for index, item in enumerate(sections.get("traced_namespaces", [])):
        if item.mtls_mode is not None and item.mtls_mode is not MtlsMode.STRICT:
            problems.append(
                Problem(f"{PROJECT}:tracedNamespaces[{index}].mtlsMode", item.mtls_mode.value, f"must be STRICT: {why}")
            )
    if sections.get("demo"):
        problems.append(
            Problem(f"{PROJECT}:demo", True, f"must be false: {why}; the demo workload is for trying the stack out")
        )
    kiali = sections.get("kiali")
    if kiali is not None and kiali.enabled and kiali.auth.strategy is KialiAuthStrategy.ANONYMOUS:
        problems.append(Problem(f"{PROJECT}:kiali.auth.strategy", "anonymous", f"must be 'token' or 'openid': {why}"))
    signoz = sections.get("signoz")
    remote = signoz.remote if signoz is not None else None
    if remote is not None and remote.auth is RemoteAuth.NONE:
        problems.append(Problem(f"{PROJECT}:signoz.remote.auth", "none", f"must be 'bearer' or 'signozCloud': {why}"))
    if remote is not None and remote.insecure_skip_verify:
        problems.append(
            Problem(f"{PROJECT}:signoz.remote.insecureSkipVerify", True, f"must be false (verify TLS): {why}")
        )
    ingest = signoz.ingest if signoz is not None else None
    if ingest is not None and ingest.tls_secret_name is None:
        problems.append(
            Problem(
                f"{PROJECT}:signoz.ingest.tlsSecretName",
                MISSING,
                f"required: {why}, so the ingest key never crosses the network in plain text",
            )
        )
    return problems


# --------------------------------------------------------------------------- entry points


def settings_from_config(config: Mapping[str, object]) -> StackConfig:
    """Settings from a stack file's `config:` block (values as YAML parsed them; `secure:` values
    are secrets whose plain text is never needed here)."""
    secret_keys = frozenset(k for k, v in config.items() if is_encrypted(v))
    raw, problems, context = parse_config(config, secret_keys)
    settings = _validated(raw, problems, context, secrets_present(config))
    return StackConfig(settings=settings, kube_context=context)


def _validated(
    raw: Mapping[str, object], problems: list[Problem], context: str | None, secrets: frozenset[str]
) -> StackSettings:
    try:
        settings = validate_settings(raw, kube_context=context, secrets=secrets)
    except SettingsError as error:
        raise SettingsError([*problems, *error.problems]) from None
    if problems:
        raise SettingsError(problems)
    return settings


def _runtime_config() -> tuple[dict[str, object], set[str]]:
    """The stack's config as the engine passed it (PULUMI_CONFIG under the CLI, set_all_config
    under mocks) and which keys are secret."""
    config: dict[str, object] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret = set(runtime_config.get_config_secret_keys_env())
    secret |= {key for key in config if runtime_config.is_config_secret(key)}
    return config, secret


def load_settings() -> LoadedConfig:
    """Read and validate the whole stack config inside the program; raise SettingsError listing
    every problem (a `pulumi.RunError`: the CLI prints the list without a traceback)."""
    config, secret = _runtime_config()
    raw, problems, context = parse_config(config, secret)
    settings = _validated(raw, problems, context, secrets_present(config))
    ours = pulumi.Config(PROJECT)
    return LoadedConfig(
        settings=settings,
        secrets=Secrets(
            clickhouse_password=ours.get_secret("clickhousePassword"),
            kiali_signing_key=ours.get_secret("kialiSigningKey"),
            kiali_oidc_client_secret=ours.get_secret("kialiOidcClientSecret"),
            signoz_ingest_key=ours.get_secret(INGEST_KEY),
        ),
        kube_context=context,
    )
