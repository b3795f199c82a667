"""A compact schema of a protobuf message as its JSON form accepts it, from the `.proto` files of a
released Go module (istio.io/api), for `make facts`.

It reads proto3 text: packages, imports, (nested) messages and enums, fields, `oneof`, `map<,>`;
options, `reserved` and comments are skipped. Only the messages reachable from the root are kept.
Well-known types map to what their JSON form is: Duration → a duration string, wrappers → their
scalar, Struct/Value/Any → free-form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCALARS = {
    "string": "string",
    "bytes": "string",
    "bool": "bool",
    **dict.fromkeys(["int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64"], "int"),
    **dict.fromkeys(["sfixed32", "sfixed64"], "int"),
    "float": "number",
    "double": "number",
}
WELL_KNOWN = {
    "google.protobuf.Duration": "duration",
    "google.protobuf.Timestamp": "string",
    "google.protobuf.BoolValue": "bool",
    "google.protobuf.StringValue": "string",
    "google.protobuf.BytesValue": "string",
    "google.protobuf.DoubleValue": "number",
    "google.protobuf.FloatValue": "number",
    **dict.fromkeys(["google.protobuf.Int32Value", "google.protobuf.Int64Value", "google.protobuf.UInt32Value"], "int"),
    "google.protobuf.UInt64Value": "int",
    "google.protobuf.Struct": "free",
    "google.protobuf.Value": "free",
    "google.protobuf.ListValue": "free",
    "google.protobuf.Any": "free",
    "google.protobuf.Empty": "free",
}
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[A-Za-z_][\w.]*|\d+|[{}();=<>,\[\]]|\S')


def _tokens(text: str) -> list[str]:
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return _TOKEN.findall(text)


def json_name(name: str) -> str:
    """protobuf's JSON name of a field: lowerCamelCase of its snake_case name."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass
class Field:
    name: str
    type: str  # as written; resolved later
    label: str  # single | repeated | map


@dataclass
class Message:
    fields: list[Field] = field(default_factory=list)


@dataclass
class ProtoSet:
    messages: dict[str, Message] = field(default_factory=dict)
    enums: dict[str, list[str]] = field(default_factory=dict)

    def load(self, root: Path, relative: str, seen: set[str] | None = None) -> None:
        seen = set() if seen is None else seen
        if relative in seen or relative.startswith("google/"):
            return
        seen.add(relative)
        tokens = _tokens((root / relative).read_text())
        package = ""
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token == "package":
                package, i = tokens[i + 1], i + 3
            elif token == "import":
                j = i + 1
                while tokens[j] in {"public", "weak"}:
                    j += 1
                self.load(root, tokens[j].strip('"'), seen)
                i = j + 2
            elif token in {"message", "enum"}:
                i = self._block(tokens, i, package)
            elif token in {"option", "syntax"}:
                i = tokens.index(";", i) + 1
            else:
                i += 1

    def _block(self, tokens: list[str], i: int, scope: str) -> int:
        kind, name = tokens[i], tokens[i + 1]
        full = f"{scope}.{name}" if scope else name
        i += 3  # kind name {
        if kind == "enum":
            values = []
            while tokens[i] != "}":
                if tokens[i] in {"option", "reserved"}:
                    i = tokens.index(";", i) + 1
                    continue
                values.append(tokens[i])
                i = tokens.index(";", i) + 1
            self.enums[full] = values
            return i + 1
        message = self.messages.setdefault(full, Message())
        while tokens[i] != "}":
            token = tokens[i]
            if token in {"message", "enum"}:
                i = self._block(tokens, i, full)
            elif token in {"option", "reserved", "extensions"}:
                i = tokens.index(";", i) + 1
            elif token == "oneof":
                i += 3  # oneof name {
                while tokens[i] != "}":
                    if tokens[i] == "option":
                        i = tokens.index(";", i) + 1
                        continue
                    message.fields.append(Field(tokens[i + 1], self._scoped(tokens[i], full), "single"))
                    i = tokens.index(";", i) + 1
                i += 1
            elif token == "map":
                value_type, name = tokens[i + 4], tokens[i + 6]
                message.fields.append(Field(name, self._scoped(value_type, full), "map"))
                i = tokens.index(";", i) + 1
            else:
                label = "single"
                if token in {"repeated", "optional"}:
                    label = "repeated" if token == "repeated" else "single"
                    i += 1
                message.fields.append(Field(tokens[i + 1], self._scoped(tokens[i], full), label))
                i = tokens.index(";", i) + 1
        return i + 1

    @staticmethod
    def _scoped(type_name: str, scope: str) -> str:
        return type_name if type_name in SCALARS else f"{scope}::{type_name}"

    def resolve(self, written: str) -> str:
        """A field's type as the schema states it: a scalar, a well-known type, `enum:<name>` or
        `message:<name>`, resolved as protoc resolves names (innermost scope first)."""
        if written in SCALARS:
            return SCALARS[written]
        scope, _, name = written.partition("::")
        name = name.lstrip(".")
        parts = scope.split(".")
        candidates = [".".join([*parts[:cut], name]) for cut in range(len(parts), -1, -1)]
        for candidate in candidates:
            if candidate in WELL_KNOWN:
                return WELL_KNOWN[candidate]
            if candidate in self.messages:
                return f"message:{candidate}"
            if candidate in self.enums:
                return f"enum:{candidate}"
        if name.startswith("google."):
            return WELL_KNOWN.get(name, "free")
        raise LookupError(f"cannot resolve type {name} in {scope}")


def schema(root: Path, files: list[str], message: str) -> dict[str, Any]:
    """The JSON-form schema of `message` and every message and enum it reaches."""
    protos = ProtoSet()
    for relative in files:
        protos.load(root, relative)
    messages: dict[str, Any] = {}
    enums: dict[str, list[str]] = {}
    pending = [message]
    while pending:
        name = pending.pop()
        if name in messages:
            continue
        fields = {}
        for item in protos.messages[name].fields:
            resolved = protos.resolve(item.type)
            fields[json_name(item.name)] = {"type": resolved, "label": item.label, "proto": item.name}
            if resolved.startswith("message:"):
                pending.append(resolved.removeprefix("message:"))
            elif resolved.startswith("enum:"):
                enums[resolved.removeprefix("enum:")] = protos.enums[resolved.removeprefix("enum:")]
        messages[name] = fields
    return {"root": message, "messages": dict(sorted(messages.items())), "enums": dict(sorted(enums.items()))}
