"""Stack settings: the only place that reads a stack's config, for the program and for the tools.

`load_settings()` reads `pulumi.Config` inside `pulumi up`/`preview` (and under mocks);
`settings_from_config()` takes a stack file's `config:` block for the offline tools. Both go through
`parse_config` and `validate_settings`, so a key means the same thing everywhere, and every problem
is reported at once — one line each, naming the full key, the value given and what is allowed —
before any resource is registered.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import json
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Annotated, Any, get_args, get_origin

import pulumi
from pulumi.runtime import config as runtime_config
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from config import guard_rails
from config.extra_values import extra_values_problems, release_extras
from config.guard_rails import GuardRail
from config.istio import IstioSettings
from config.problems import MAP_FIELDS, MISSING, PROJECT, FieldError, Problem, SettingsError, key_path
from config.production import decide_production
from config.signoz import DeploySigNoz, RemoteSigNoz
from config.stack import DEMO_NAMESPACE, StackSettings, first_model, models_in
from config.types import (
    KUBERNETES_RESERVED_PREFIX,
    KUBERNETES_SYSTEM_NAMESPACES,
    PATTERN_MEANING,
    CustomTag,
    RemoteAuth,
    SettingsUnion,
    settings_union,
)

# Secret config keys: read with get_secret, never as plain values.
SECRET_KEYS = ("clickhousePassword", "kialiSigningKey", "kialiOidcClientSecret", "signozIngestKey")
INGEST_KEY = "signozIngestKey"
# The ingest key is an HTTP header value and a line of the central collector's token file.
INGEST_KEY_MIN_LENGTH = 16
# Kiali accepts only these signing-key lengths (AES key sizes).
KIALI_SIGNING_KEY_LENGTHS = (16, 24, 32)
# Pulumi's own key for the cluster the default Kubernetes provider deploys to.
KUBE_CONTEXT_KEY = "kubernetes:context"
# Config namespaces a stack file may hold besides ours (provider settings).
OTHER_NAMESPACES = frozenset({"kubernetes", "random", "pulumi"})
_TOP_LEVEL_KEYS = tuple((field.alias or name) for name, field in StackSettings.model_fields.items())
# What a fix hint says when the stack's name is not known (a direct call of validate_settings).
STACK_PLACEHOLDER = "<stack>"
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


def config_set(stack: str, key: str, value: str, *, secret: bool = False) -> str:
    """The command that sets `key` in `stack`, for fix hints: every hint names the stack."""
    return f"`pulumi config set{' --secret' if secret else ''} --stack {stack} {key} {value}`"


def parse_key(written: str) -> tuple[str, str] | None:
    """(namespace, name) of a stack file's config key as the Pulumi CLI reads it, or None where it
    refuses the key (pulumi/sdk v3.276.0): a key without `:` is the project's
    (go/common/workspace/loaders.go, stackConfigNamespacedWithProject); then ParseKey
    (go/common/resource/config/key.go): exactly one `:` splits namespace and name, and
    `<namespace>:config:<name>`, the old form, is the same key as `<namespace>:<name>`."""
    if ":" not in written:
        return PROJECT, written
    parts = written.split(":")
    if len(parts) == 2:
        return parts[0], parts[1]
    if len(parts) == 3 and parts[1] == "config":
        return parts[0], parts[2]
    return None


def _unparsable(written: str) -> str:
    """Pulumi's own words for a key it refuses, and where the key was probably meant to go."""
    message = (
        f"could not parse {written} as a configuration key "
        "(configuration keys should be of the form `<namespace>:<name>`)"
    )
    hint = _key_hint(written)
    return f"{message}; {hint}" if hint else message


def _key_hint(written: str) -> str:
    """The key `written` was probably meant to be: a namespace joined to its name by another character."""
    for namespace in (PROJECT, *sorted(OTHER_NAMESPACES)):
        rest = written[len(namespace) :]
        meant = f"{namespace}:{rest.lstrip('./: _')}"
        if written.startswith(namespace) and rest[:1] in "./: _" and rest.strip("./: _") and meant.count(":") == 1:
            return f"did you mean {meant}?"
    return ""


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
    config: Mapping[str, object], secret_keys: Collection[str], *, stack: str = STACK_PLACEHOLDER
) -> tuple[dict[str, object], list[Problem], str | None]:
    """Split a stack's whole config (`namespace:key` → value) into our keys' plain values, the
    problems found on the way, and the `kubernetes:context` it names. Keys are read as Pulumi
    reads them (`parse_key`), so a key the CLI would refuse is an error here too."""
    raw: dict[str, object] = {}
    problems: list[Problem] = []
    context: str | None = None
    seen: dict[str, str] = {}
    for written in sorted(config):
        value = config[written]
        parsed = parse_key(written)
        if parsed is None:
            shown = "<secret>" if is_encrypted(value) or written in secret_keys else value
            problems.append(Problem(written, shown, _unparsable(written)))
            continue
        qualified = ":".join(parsed)
        if qualified in seen:
            problems.append(Problem(written, value, f"the same key as {seen[qualified]}; keep one of them"))
            continue
        seen[qualified] = written
        namespace, key = parsed
        if qualified == KUBE_CONTEXT_KEY:
            context = value if isinstance(value, str) and value else None
            if context is None:
                problems.append(Problem(KUBE_CONTEXT_KEY, value, "must be the name of a kube context"))
            continue
        if namespace != PROJECT:
            if namespace not in OTHER_NAMESPACES and _looks_like_ours(namespace):
                problems.append(
                    Problem(written, value, f"unknown config namespace {namespace!r}; did you mean {PROJECT}:{key}?")
                )
            continue
        if key in SECRET_KEYS:
            problems.extend(_secret_problems(key, value, written in secret_keys or qualified in secret_keys, stack))
            continue
        raw[key] = value if key in _TEXT_KEYS else _as_value(value)
    return raw, problems, context


def _secret_problems(key: str, value: object, is_secret: bool, stack: str) -> list[Problem]:
    qualified = f"{PROJECT}:{key}"
    if not is_secret:
        command = config_set(stack, qualified, "<value>", secret=True)
        return [Problem(qualified, "<plain text>", f"must be a secret: {command}")]
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


# The nonce of Pulumi's symmetric crypter (AES-256-GCM) and the tag every sealed value ends with.
_NONCE_BYTES = 12
_GCM_TAG_BYTES = 16


def is_ciphertext(text: object) -> bool:
    """Whether a `secure:` value can be what a Pulumi secrets provider wrote (pulumi v3.276.0):
    - passphrase and cloud KMS (awskms, azurekeyvault, gcpkms, hashivault): `v1:<nonce>:<sealed>`,
      standard base64 of a 12-byte nonce and of the AES-256-GCM output (sdk
      go/common/resource/config/crypt.go, symmetricCrypter; cloud KMS encrypts only the data key in
      the stack file's `encryptedkey`, then seals values with the same crypter, pkg secrets/cloud);
    - the Pulumi service: standard base64 of its ciphertext (pkg secrets/service/manager.go).
    A pasted placeholder (`<encrypted by pulumi>`), an empty value or text with spaces is none."""
    if not isinstance(text, str):
        return False
    parts = text.split(":")
    if len(parts) == 3 and parts[0] == "v1":
        nonce, sealed = _base64(parts[1]), _base64(parts[2])
        return nonce is not None and len(nonce) == _NONCE_BYTES and sealed is not None and len(sealed) >= _GCM_TAG_BYTES
    return len(parts) == 1 and bool(_base64(text))


def _base64(text: str) -> bytes | None:
    """Standard base64 with its padding, as Go's base64.StdEncoding decodes it; else None."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def ciphertext_problems(config: Mapping[str, object], stack: str) -> list[Problem]:
    """`secure:` values no secrets provider can decrypt, each with the command that sets it."""
    return [
        Problem(
            written,
            "<secure value>",
            "not a ciphertext of any Pulumi secrets provider (passphrase and cloud KMS write v1:<nonce>:<sealed>, "
            f"the Pulumi service base64); set it with {config_set(stack, written, '<value>', secret=True)}",
        )
        for written, value in sorted(config.items())
        if isinstance(value, Mapping) and is_encrypted(value) and not is_ciphertext(value["secure"])
    ]


def secrets_present(config: Mapping[str, object]) -> frozenset[str]:
    """Our secret keys (unqualified) that a stack's config sets, whatever their value."""
    found = set()
    for written in config:
        parsed = parse_key(written)
        if parsed is not None and parsed[0] == PROJECT and parsed[1] in SECRET_KEYS:
            found.add(parsed[1])
    return frozenset(found)


# --------------------------------------------------------------------------- where a key belongs


def _holds_list(annotation: object) -> bool:
    return get_origin(annotation) is list or any(_holds_list(arg) for arg in get_args(annotation))


def _blocks(model: type[BaseModel], path: str) -> Iterator[tuple[str, str]]:
    """(key, block) for every key of every block below the top level: `mesh-tracing:istio.gateway`,
    `mesh-tracing:tracedNamespaces[]` (its entries). Free-form maps (tags, attributes) hold names,
    not keys, and are left out."""
    for name, field in model.model_fields.items():
        alias = field.alias or name
        if alias in MAP_FIELDS:
            continue
        block = f"{path}.{alias}" if path else f"{PROJECT}:{alias}"
        block += "[]" if _holds_list(field.annotation) else ""
        keys: dict[str, None] = {}
        for nested in models_in(field.annotation):
            if nested is CustomTag:
                continue
            keys.update({key_field.alias or key_name: None for key_name, key_field in nested.model_fields.items()})
            yield from _blocks(nested, block)
        for key in keys:
            yield key, block


def _key_blocks() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key, block in _blocks(StackSettings, ""):
        if block not in found.setdefault(key, []):
            found[key].append(block)
    return found


_KEY_BLOCKS = _key_blocks()


def _blocks_holding(key: str) -> list[str]:
    return _KEY_BLOCKS.get(key, [])


def _either(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def _misplaced(key: str, block: str | None) -> str:
    """Where a key unknown in `block` (None: the top level) belongs, or ""."""
    if block is not None and key in _TOP_LEVEL_KEYS:
        return f"{key} is a top-level key ({PROJECT}:{key}): move it out of this block"
    owners = [owner for owner in _blocks_holding(key) if owner != block]
    if not owners:
        return ""
    return f"{key} is a key of {_either(owners)}: move it into {'that block' if len(owners) == 1 else 'one of them'}"


def _unknown_key(key: str, allowed: Collection[str], block: str | None) -> str:
    """ "unknown key; " and what the key probably is: our namespace joined by a dot (Pulumi reads
    `mesh-tracing.x` as the project's key `mesh-tracing.x`), a key of another block, or a misspelling."""
    meant = _key_hint(key) if block is None else ""
    if meant:
        return f"unknown key; {meant} "
    belongs = _misplaced(key, block)
    if belongs:
        return f"unknown key; {belongs}; "
    close = difflib.get_close_matches(key, list(allowed), n=1)
    return f"unknown key; did you mean {close[0]}? " if close else "unknown key; "


# --------------------------------------------------------------------------- plain values → settings


@dataclass(frozen=True)
class _Located:
    """Where a validation error is, as the stack file has it: pydantic's location without the tags of
    the settings unions it passes through, the model holding its last key, and the innermost union
    (its location, what it is, the chosen tag, and the keys below it)."""

    loc: tuple[int | str, ...]
    model: type[BaseModel] | None
    union_loc: tuple[int | str, ...] = ()
    union: SettingsUnion | None = None
    tag: str = ""
    below: tuple[int | str, ...] = ()


def _locate(raw: tuple[int | str, ...]) -> _Located:
    """Walk a pydantic location from the top level. The model is the one whose keys are allowed at
    the location's parent, to list them in an unknown-key error."""
    clean: list[int | str] = []
    model: type[BaseModel] | None = StackSettings
    union: tuple[tuple[int | str, ...], SettingsUnion, str, int] | None = None
    parts = list(raw)
    index = 0
    skip_map_key = False
    while index < len(parts):
        part = parts[index]
        index += 1
        clean.append(part)
        if isinstance(part, int) or part == "[key]":
            continue
        if skip_map_key:
            skip_map_key = False
            continue
        if model is None or index == len(parts):
            continue
        fields = {field.alias or name: field for name, field in model.model_fields.items()}
        if part not in fields:
            model = None
            continue
        skip_map_key = part in MAP_FIELDS
        annotation = fields[part].annotation
        found = settings_union(annotation)
        if found is not None and index < len(parts) and parts[index] in found.members:
            tag = str(parts[index])
            index += 1
            union = (tuple(clean), found, tag, len(clean))
            model = found.members[tag]
            continue
        model = first_model(annotation)
    if union is None:
        return _Located(tuple(clean), model)
    union_loc, found, tag, depth = union
    return _Located(tuple(clean), model, union_loc, found, tag, tuple(clean[depth:]))


def _holds_path(model: type[BaseModel], path: tuple[int | str, ...]) -> bool:
    """Whether a model has a key at `path` (stack-file names, list indexes skipped)."""
    current: type[BaseModel] | None = model
    for part in path:
        if isinstance(part, int):
            continue
        if current is None:
            return False
        fields = {field.alias or name: field for name, field in current.model_fields.items()}
        if part not in fields:
            return False
        current = first_model(fields[part].annotation)
    return True


def _other_mode_key(at: _Located) -> str | None:
    """An unknown key of one member of a settings union that another member takes: which one, and
    why it is refused here."""
    if at.union is None or not at.below:
        return None
    owners = [tag for tag, model in at.union.members.items() if tag != at.tag and _holds_path(model, at.below)]
    if not owners:
        return None
    site = ".".join(str(part) for part in at.union_loc)
    chosen = at.union.members[at.tag]
    kind = "mode" if at.union.key == "mode" else at.union.key
    return f"{' or '.join(owners)} {kind} only: with {site}.{at.union.key} {at.tag!r} {chosen.mode_note}; remove it"


def _required_by_mode(at: _Located) -> str | None:
    """A key only one member of a settings union has, missing: what that member needs it for."""
    if at.union is None or len(at.below) != 1:
        return None
    key = str(at.below[0])
    if any(_holds_path(model, at.below) for tag, model in at.union.members.items() if tag != at.tag):
        return None
    chosen = at.union.members[at.tag]
    field = next(f for n, f in chosen.model_fields.items() if (f.alias or n) == key)
    described = f": {field.description}" if field.description else ""
    return f"required with {at.union.key} {at.tag!r}{described}"


def _block_of(loc: tuple[int | str, ...]) -> str:
    """The block label of `_blocks` for a location: list indexes become `[]`."""
    path = "".join("[]" if isinstance(part, int) else f".{part}" for part in loc)
    return f"{PROJECT}:{path.removeprefix('.')}"


EXTRA_VALUES_KEY = "extraValues"


def _json_tags_removed(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """A location inside `extraValues` as the stack file has it: pydantic names the JSON type of
    every container it passes (`extraValues.a.dict.b`), which no stack file spells."""
    if EXTRA_VALUES_KEY not in loc:
        return loc
    start = loc.index(EXTRA_VALUES_KEY) + 2  # extraValues and its first key
    rest = loc[start:]
    return loc[:start] + tuple(part for index, part in enumerate(rest) if index % 2 == 1 or part == "[key]")


def _problems_from(error: ValidationError, prefix: tuple[int | str, ...]) -> list[Problem]:
    problems = []
    for err in error.errors(include_url=False):
        at = _locate(_json_tags_removed(prefix + tuple(err["loc"])))
        loc = at.loc
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):
            problems.append(Problem(key_path(loc + cause.path), cause.value, cause.message))
            continue
        if err["type"] == "union_tag_invalid":
            union = settings_union(_annotation_at(loc))
            assert union is not None, f"a tagged union at {loc} that is not a settings union"
            value = err["input"].get(union.key) if isinstance(err["input"], dict) else err["input"]
            expected = _either([repr(tag) for tag in union.members])
            problems.append(Problem(key_path((*loc, union.key)), _shown(value), f"must be {expected}"))
            continue
        if err["type"] == "extra_forbidden":
            other_mode = _other_mode_key(at)
            if other_mode is not None:
                problems.append(Problem(key_path(loc), err["input"], other_mode))
                continue
            owner = at.model
            allowed = [f.alias or n for n, f in owner.model_fields.items()] if owner else []
            listed = ", ".join(allowed) or "see docs/configuration.md"
            unknown = _unknown_key(str(loc[-1]), allowed, _block_of(loc[:-1]))
            problems.append(Problem(key_path(loc), err["input"], f"{unknown}allowed keys here: {listed}"))
            continue
        if err["type"] == "missing":
            problems.append(Problem(key_path(loc), MISSING, _required_by_mode(at) or "required"))
            continue
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "string_type" and err["loc"][-1] == "[key]" and EXTRA_VALUES_KEY in loc:
            message = "a key of a chart value must be text (quote it in the stack file)"
        if err["type"] == "string_pattern_mismatch":
            message = PATTERN_MEANING.get(str((err.get("ctx") or {}).get("pattern")), message)
        problems.append(Problem(key_path(loc), err["input"], message))
    return problems


def _annotation_at(loc: tuple[int | str, ...]) -> object:
    """The field annotation of the key at `loc` (a location without union tags)."""
    parent = _locate(loc).model if loc else None
    if parent is None:
        return None
    fields = {field.alias or name: field for name, field in parent.model_fields.items()}
    field = fields.get(str(loc[-1]))
    return field.annotation if field is not None else None


def _section_adapter(field: FieldInfo) -> TypeAdapter[Any]:
    # The constraints of an `Annotated` field type live in `metadata`, not in `annotation`.
    annotation: Any = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    return TypeAdapter(annotation)


_SECTION_ADAPTERS = {name: _section_adapter(field) for name, field in StackSettings.model_fields.items()}


def validate_settings(
    raw: Mapping[str, object],
    *,
    kube_context: str | None = None,
    secrets: Collection[str] = (),
    stack: str = STACK_PLACEHOLDER,
) -> StackSettings:
    """Validate plain config values (camelCase keys, parsed JSON) into settings, or raise SettingsError.

    Each top-level key is validated on its own so one bad section never hides problems in another,
    then the cross-section rules run over whatever sections were valid. `secrets` names the secret
    keys the stack sets (their values are never needed here), for rules that require one; `stack`
    is named in every fix hint.
    """
    problems: list[Problem] = []
    for key in raw:
        if key not in _TOP_LEVEL_KEYS:
            unknown = _unknown_key(key, _TOP_LEVEL_KEYS, None)
            problems.append(Problem(f"{PROJECT}:{key}", raw[key], f"{unknown}allowed: {', '.join(_TOP_LEVEL_KEYS)}"))
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
    problems.extend(_cross_section_problems(sections, kube_context, frozenset(secrets), stack))
    if problems:
        raise SettingsError(problems)
    return StackSettings(**sections)


def _cross_section_problems(
    sections: Mapping[str, Any], kube_context: str | None, secrets: frozenset[str], stack: str
) -> list[Problem]:
    istio = sections.get("istio", IstioSettings())
    signoz: DeploySigNoz | RemoteSigNoz = sections.get("signoz", DeploySigNoz())
    problems = _namespace_problems(sections, istio.namespace, signoz.namespace, istio.gateway)
    problems.extend(_namespace_revision_problems(sections, istio))
    problems.extend(_tail_sampling_problems(sections, signoz))
    problems.extend(_signoz_mode_problems(sections, signoz, secrets, stack))
    problems.extend(extra_values_problems(sections))
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
    if "environment" in sections:
        decision = decide_production(sections["environment"], sections.get("production"))
        if decision.production is None:
            problems.append(
                Problem(
                    f"{PROJECT}:production",
                    MISSING,
                    f"required: {decision.decided_by}; set it: "
                    f"{config_set(stack, f'{PROJECT}:production', 'true')} (or false)",
                )
            )
        elif decision.production:
            problems.extend(_production_problems(sections, kube_context, decision.decided_by, stack))
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
            if name == DEMO_NAMESPACE
        )
        owned.setdefault(DEMO_NAMESPACE, f"the demo namespace, which {PROJECT}:demo creates and traces")
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


def _tail_sampling_problems(sections: Mapping[str, Any], signoz: DeploySigNoz | RemoteSigNoz) -> list[Problem]:
    """With tail sampling the decision moves from Envoy to the collector: Envoy must report every
    request, and the samplers must keep every span of a trace on one replica."""
    tail = sections.get("tail_sampling")
    if tail is None or not tail.enabled:
        return []
    why = "with tailSampling.enabled the decision moves to the collector"
    problems: list[Problem] = []
    if isinstance(signoz, RemoteSigNoz):
        problems.append(
            Problem(
                f"{PROJECT}:tailSampling.enabled",
                True,
                "not in mode 'remote': the decision is made where SigNoz runs. Spans of one trace reach the "
                "central stack from every cluster's agent, whose queues hold them back for up to "
                "signoz.remote.maxRetrySeconds, far beyond any decision wait; keep head sampling here",
            )
        )
    sampling = sections.get("sampling_percent", StackSettings.model_fields["sampling_percent"].default)
    if sampling != 100:
        problems.append(Problem(f"{PROJECT}:samplingPercent", sampling, f"must be 100: {why} (Envoy reports all)"))
    for index, item in enumerate(sections.get("traced_namespaces", [])):
        if item.sampling_percent is not None and item.sampling_percent != 100:
            problems.append(
                Problem(
                    f"{PROJECT}:tracedNamespaces[{index}].samplingPercent",
                    item.sampling_percent,
                    f"must be unset or 100: {why}; a namespace below 100 % would hide its errors",
                )
            )
    if isinstance(signoz, DeploySigNoz) and signoz.collector.autoscaling.enabled:
        problems.append(
            Problem(
                f"{PROJECT}:signoz.collector.autoscaling.enabled",
                True,
                "must be false with tailSampling.enabled: a change of replicas reshards traces, and a trace split "
                "between two samplers is decided in halves",
            )
        )
    return problems


def _shown(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, mode="json", exclude_unset=True)  # as the stack file has it
    return getattr(value, "value", value)


def _signoz_mode_problems(
    sections: Mapping[str, Any], signoz: DeploySigNoz | RemoteSigNoz, secrets: frozenset[str], stack: str
) -> list[Problem]:
    """What the chosen `signoz.mode` needs beyond its own keys (the other mode's keys are refused by
    the settings union): the ingest key, and resource attributes the agent's chart can carry."""
    problems: list[Problem] = []
    needs_key = []
    if isinstance(signoz, RemoteSigNoz):
        for key, value in sorted(sections.get("resource_attributes", {}).items()):
            if "{{" in value:
                # The k8s-infra chart passes its collector config through Helm's `tpl`.
                problems.append(
                    Problem(f'{PROJECT}:resourceAttributes["{key}"]', value, "must not contain '{{' in mode 'remote'")
                )
        if signoz.remote.auth is not RemoteAuth.NONE:
            needs_key.append(f"signoz.remote.auth is {signoz.remote.auth.value!r}")
    elif signoz.ingest is not None:
        needs_key.append("signoz.ingest checks it on every request")
    if needs_key and INGEST_KEY not in secrets:
        command = config_set(stack, f"{PROJECT}:{INGEST_KEY}", "<key>", secret=True)
        problems.append(
            Problem(
                f"{PROJECT}:{INGEST_KEY}",
                MISSING,
                f"required: {'; '.join(needs_key)} ({command})",
            )
        )
    return problems


def _production_problems(
    sections: Mapping[str, Any], kube_context: str | None, decided_by: str, stack: str
) -> list[Problem]:
    """The production guard rails (config/guard_rails.py), judged on the settings with the key at
    fault; the policy pack judges the same rails again on what the program registers."""
    why = f"a production stack ({decided_by})"
    problems: list[Problem] = []
    if kube_context is None:
        problems.append(
            Problem(
                KUBE_CONTEXT_KEY,
                MISSING,
                f"required: {why}, so the stack names the cluster it deploys to "
                f"({config_set(stack, KUBE_CONTEXT_KEY, '<context>')})",
            )
        )
    for rail, key, value, written in _guarded_values(sections):
        if rail.refuses(value):
            problems.append(Problem(f"{PROJECT}:{key}", written, f"{rail.requirement}: {why}"))
    return problems


def _guarded_values(sections: Mapping[str, Any]) -> Iterator[tuple[GuardRail, str, Any, Any]]:
    """Every value a stack file sets that a production guard rail judges: the rail, the key, the
    value as the rail takes it (enum values as strings) and as the file writes it. Sections that
    failed to read are left out: their own problems are reported."""
    mode = sections.get("mtls_mode")
    if mode is not None:
        yield guard_rails.STRICT_MTLS, "mtlsMode", mode.value, mode.value
    for index, item in enumerate(sections.get("traced_namespaces", [])):
        if item.mtls_mode is not None:
            yield (
                guard_rails.STRICT_MTLS,
                f"tracedNamespaces[{index}].mtlsMode",
                item.mtls_mode.value,
                item.mtls_mode.value,
            )
    demo = bool(sections.get("demo"))
    yield guard_rails.NO_DEMO, "demo", demo, demo
    kiali = sections.get("kiali")
    if kiali is not None and kiali.enabled:
        strategy = kiali.auth.strategy.value
        yield guard_rails.KIALI_AUTHENTICATED, "kiali.auth.strategy", strategy, strategy
    signoz = sections.get("signoz")
    if isinstance(signoz, RemoteSigNoz):
        remote = signoz.remote
        yield guard_rails.REMOTE_SENDS_KEY, "signoz.remote.auth", remote.auth is not RemoteAuth.NONE, remote.auth.value
        skip = remote.insecure_skip_verify
        yield guard_rails.REMOTE_VERIFIES_TLS, "signoz.remote.insecureSkipVerify", skip, skip
    if isinstance(signoz, DeploySigNoz) and signoz.ingest is not None:
        secret = signoz.ingest.tls_secret_name
        yield guard_rails.INGEST_OVER_TLS, "signoz.ingest.tlsSecretName", secret, MISSING if secret is None else secret
    for extras in release_extras(sections):
        for rail, path, value in guard_rails.values_judged(extras.chart.value, extras.values):
            yield rail, extras.key(path).removeprefix(f"{PROJECT}:"), value, value


# --------------------------------------------------------------------------- entry points


def settings_from_config(
    config: Mapping[str, object], *, stack: str, lines: Mapping[str, int] | None = None
) -> StackConfig:
    """Settings from a stack file's `config:` block (values as YAML parsed them; `secure:` values
    are secrets whose plain text is never needed here, but must be ciphertexts). With `lines` (key
    path → line, `meshtools.stacks.read_config`) each problem names the line of its key."""
    secret_keys = frozenset(k for k, v in config.items() if is_encrypted(v))
    raw, problems, context = parse_config(config, secret_keys, stack=stack)
    if lines is not None:
        # Problems name keys as Pulumi reads them (`signozUrl` is `mesh-tracing:signozUrl`).
        read = {":".join(k): lines[w] for w in config if (k := parse_key(w)) and w in lines}
        lines = {**read, **lines}
    try:
        settings = _validated(raw, [*ciphertext_problems(config, stack), *problems], context, config, stack)
    except SettingsError as error:
        if lines is None:
            raise
        located = [replace(p, line=_line_of(p.key, lines)) for p in error.problems]
        located.sort(key=lambda p: (p.line is None, p.line or 0))  # in file order, as compilers print
        raise SettingsError(located, source=f"Pulumi.{stack}.yaml") from None
    return StackConfig(settings=settings, kube_context=context)


_LAST_PART = re.compile(r'(\.[^.\[]+|\["[^"]*"\]|\[\d+\])$')


def _line_of(key: str, lines: Mapping[str, int]) -> int | None:
    """The line of `key`, or of the nearest enclosing key the file has (a problem about a key the
    file leaves out, or about `name` of a list entry written as a plain name, is at that entry)."""
    while key not in lines:
        shorter = _LAST_PART.sub("", key)
        if shorter == key:
            return None
        key = shorter
    return lines[key]


def _validated(
    raw: Mapping[str, object],
    problems: list[Problem],
    context: str | None,
    config: Mapping[str, object],
    stack: str,
) -> StackSettings:
    try:
        settings = validate_settings(raw, kube_context=context, secrets=secrets_present(config), stack=stack)
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
    stack = pulumi.get_stack()
    raw, problems, context = parse_config(config, secret, stack=stack)
    settings = _validated(raw, problems, context, config, stack)
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
