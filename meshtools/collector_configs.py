"""The collector configs a stack renders, as each collector's pod reads them.

The real collectors are the only judge of their own config (`meshtools.collectors` runs them). What
they are given must be what the pod gets: the ConfigMap data the pinned chart renders from the
program's values, at the path the container's `--config` flag names, and the container's
environment, from which the collector resolves `${env:…}` references at start. This module finds
both in the rendered objects (`meshtools.manifests`); it runs nothing.

Which built collector judges a container is decided by its image: the SigNoz collector for the
signoz chart's `signoz/signoz-otel-collector`, the agent build for k8s-infra's
`otel/opentelemetry-collector-contrib`. A container that looks like a collector but has no built
counterpart is an error, never skipped.

Values the rendered objects cannot hold stand in, with the same shape as the real ones: the
Downward API fields a pod gets from its node (FIELD_STAND_INS), and secret values, which the
rendered stream masks (an alphanumeric stand-in, like the generated ClickHouse password).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kube.tree import dig
from meshtools import yamlio
from meshtools.cli import ToolError
from meshtools.desired import MASK
from meshtools.manifests import Manifest

COLLECTOR_SECTIONS = ("receivers", "processors", "exporters", "connectors", "extensions")
WORKLOAD_KINDS = ("Deployment", "DaemonSet", "StatefulSet")


@dataclass(frozen=True)
class Collector:
    """A built collector (`tools/<tool>/`) and the image whose config it judges."""

    name: str
    tool: str
    image: str  # the image repository, without registry and tag


COLLECTORS: dict[str, Collector] = {
    c.name: c
    for c in (
        Collector("signoz", "collectors/signoz", "signoz/signoz-otel-collector"),
        Collector("agent", "collectors/agent", "otel/opentelemetry-collector-contrib"),
    )
}

# What the Downward API gives a pod, by fieldPath: shaped like the real values.
FIELD_STAND_INS = {
    "spec.nodeName": "node-1",
    "spec.serviceAccountName": "default",
    "status.podIP": "10.0.0.10",
    "status.podIPs": "10.0.0.10",
    "status.hostIP": "192.168.0.10",
    "status.hostIPs": "192.168.0.10",
    "metadata.uid": "00000000-0000-4000-8000-000000000000",
}
SECRET_STAND_IN = "maskedsecretvalue0"
_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")


@dataclass(frozen=True)
class RenderedConfig:
    """One collector container of a rendered workload: its config file and its environment."""

    collector: Collector
    workload: str  # "Deployment signoz/signoz-otel-collector"
    container: str
    image: str
    path: str  # the config file as the container's --config flag names it
    text: str
    env: dict[str, str]

    @property
    def image_tag(self) -> str:
        return image_reference(self.image)[1]

    @property
    def config(self) -> dict[str, Any]:
        loaded = yamlio.load(self.text) or {}
        return loaded if isinstance(loaded, dict) else {}


def image_reference(image: str) -> tuple[str, str]:
    """(repository without registry, tag) of `registry/repo:tag` (a digest counts as the tag)."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    repository, tag = (name[:colon], name[colon + 1 :]) if colon > slash else (name, "latest")
    parts = repository.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if len(parts) == 1:
        parts = ["library", *parts]
    return "/".join(parts), digest or tag


def collector_for(image: str) -> Collector | None:
    repository = image_reference(image)[0]
    return next((c for c in COLLECTORS.values() if c.image == repository), None)


def _looks_like_collector(image: str) -> bool:
    repository = image_reference(image)[0]
    return ("otel" in repository and "collector" in repository) or "otelcol" in repository


def config_flag(container: Mapping[str, Any]) -> str | None:
    """The file a container's `--config=FILE` (or `--config FILE`) flag names."""
    arguments = [str(a) for a in [*(container.get("command") or []), *(container.get("args") or [])]]
    for index, argument in enumerate(arguments):
        if argument.startswith(("--config=", "-config=")):
            return argument.split("=", 1)[1]
        if argument in ("--config", "-config") and index + 1 < len(arguments):
            return arguments[index + 1]
    return None


class Objects:
    """The rendered objects, by kind and (namespace, name)."""

    def __init__(self, objects: Iterable[Manifest]) -> None:
        self.by_key: dict[tuple[str, str, str], dict[str, Any]] = {m.key: m.object for m in objects}

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.by_key.get((namespace, kind, name))

    def workloads(self) -> Iterable[tuple[str, dict[str, Any]]]:
        for (namespace, kind, name), obj in sorted(self.by_key.items()):
            if kind in WORKLOAD_KINDS:
                yield f"{kind} {namespace}/{name}", obj


def _data(obj: Mapping[str, Any] | None, key: str) -> str | None:
    """A ConfigMap's or Secret's value for `key` (Secret `data` is base64; a masked value stands in)."""
    if obj is None:
        return None
    if key in (obj.get("stringData") or {}):
        value = str(obj["stringData"][key])
    elif key in (obj.get("data") or {}):
        value = str(obj["data"][key])
        if obj.get("kind") == "Secret" and value != MASK:
            value = base64.b64decode(value).decode(errors="replace")
    else:
        return None
    return SECRET_STAND_IN if value == MASK else value


def _expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion of an env value: defined variables only, `$$` escapes `$`."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _REFERENCE.sub(replace, value)


def container_env(objects: Objects, namespace: str, workload_name: str, container: Mapping[str, Any]) -> dict[str, str]:
    """The environment the container's process gets: envFrom, then env in order (later entries see
    earlier ones through `$(VAR)`), values from the rendered ConfigMaps and Secrets."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix") or "")
        for kind, ref in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            if ref in source:
                obj = objects.get(kind, namespace, str(dig(source, ref, "name")))
                for key in [*(dig(obj, "data") or {}), *(dig(obj, "stringData") or {})]:
                    env[prefix + key] = _data(obj, key) or ""
    for entry in container.get("env") or []:
        name = str(entry["name"])
        source = entry.get("valueFrom")
        if source is None:
            value = str(entry.get("value") or "")
            env[name] = SECRET_STAND_IN if value == MASK else _expand(value, env)
        elif "fieldRef" in source:
            path = str(dig(source, "fieldRef", "fieldPath"))
            if path == "metadata.name":
                env[name] = f"{workload_name}-0"
            elif path == "metadata.namespace":
                env[name] = namespace
            else:
                env[name] = FIELD_STAND_INS.get(path, "stand-in")
        elif "resourceFieldRef" in source:
            env[name] = "1"
        else:
            kind, ref = ("Secret", "secretKeyRef") if "secretKeyRef" in source else ("ConfigMap", "configMapKeyRef")
            obj = objects.get(kind, namespace, str(dig(source, ref, "name")))
            found = _data(obj, str(dig(source, ref, "key")))
            # A Secret the program does not render (one that exists in the cluster) stands in too.
            env[name] = found if found is not None else (SECRET_STAND_IN if kind == "Secret" else "")
    return env


def mounted_text(
    objects: Objects, namespace: str, pod: Mapping[str, Any], container: Mapping[str, Any], path: str
) -> str | None:
    """The content of `path` in the container when a mounted ConfigMap or Secret provides it."""
    volumes = {str(v.get("name")): v for v in pod.get("volumes") or []}
    for mount in container.get("volumeMounts") or []:
        mount_path = str(mount.get("mountPath")).rstrip("/")
        sub_path = mount.get("subPath")
        if sub_path:
            if path != mount_path:
                continue
            key = str(sub_path)
        elif path.startswith(mount_path + "/"):
            key = path[len(mount_path) + 1 :]
        else:
            continue
        volume = volumes.get(str(mount.get("name"))) or {}
        obj: dict[str, Any] | None
        if "configMap" in volume:
            obj = objects.get("ConfigMap", namespace, str(dig(volume, "configMap", "name")))
        elif "secret" in volume:
            obj = objects.get("Secret", namespace, str(dig(volume, "secret", "secretName")))
        else:
            continue
        items = {str(i.get("path")): str(i.get("key")) for i in dig(volume, "configMap", "items") or []}
        return _data(obj, items.get(key, key))
    return None


def rendered_configs(objects: Iterable[Manifest]) -> list[RenderedConfig]:
    """Every collector container of the rendered workloads, with its config and environment.

    A collector container whose image has no built counterpart, or whose config file no mounted
    ConfigMap provides, is an error: the config could not be judged."""
    index = Objects(objects)
    found = []
    for title, workload in index.workloads():
        namespace = str(dig(workload, "metadata", "namespace") or "")
        pod = dig(workload, "spec", "template", "spec") or {}
        for container in pod.get("containers") or []:
            image = str(container.get("image") or "")
            collector = collector_for(image)
            path = config_flag(container)
            if collector is None:
                if _looks_like_collector(image) and path is not None:
                    raise ToolError(
                        f"{title} runs the collector image {image}, which no built collector judges "
                        f"(built: {', '.join(c.image for c in COLLECTORS.values())})"
                    )
                continue
            if path is None:
                raise ToolError(f"{title} runs {image} without a --config flag: its config cannot be found")
            text = mounted_text(index, namespace, pod, container, path)
            if text is None:
                raise ToolError(f"{title}: no mounted ConfigMap or Secret provides its config file {path}")
            name = str(dig(workload, "metadata", "name"))
            found.append(
                RenderedConfig(
                    collector=collector,
                    workload=title,
                    container=str(container.get("name")),
                    image=image,
                    path=path,
                    text=text,
                    env=container_env(index, namespace, name, container),
                )
            )
    return found


def component_types(config: Mapping[str, Any]) -> dict[str, set[str]]:
    """The component types a config uses, by section (`otlp/ingest` is of type `otlp`)."""
    return {
        section: {str(key).split("/", 1)[0] for key in (config.get(section) or {})} for section in COLLECTOR_SECTIONS
    }


def missing_components(used: Mapping[str, set[str]], built: Mapping[str, set[str]]) -> list[str]:
    """`section type` of every component a config uses that a build lacks."""
    return [
        f"{section[:-1]} {kind}"
        for section in COLLECTOR_SECTIONS
        for kind in sorted(used.get(section, set()) - built.get(section, set()))
    ]
