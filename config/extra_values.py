"""`extraValues`: what a stack may add to a release's chart values, checked when the stack is read.

The program merges each release's `extraValues` last and deeply into the values it computes
(components/), so they could silently undo what the settings decide (the tracing provider, the
collector's pipelines, a hardened pod) or do nothing at all (a misspelt path the chart ignores).
Both are refused here, every problem at once, with the full key:

- a path the program sets itself (the release's table of owned paths, declared beside the settings
  that own them), named with the setting it comes from; and a plain value or list above such a
  path, which would replace it;
- a path the pinned chart version does not have (`versions.chart_values`, the rule the conformance
  tests apply to everything the program sets), with the path probably meant; Kiali's values are
  its configuration, so a field of the Kiali CR's `spec` is accepted too; istiod's `meshConfig` is
  free-form in the chart and checked against Istio's MeshConfig of the version instead.

`release_extras` lists every release's `extraValues` with the chart versions they go to: the one
place a further rule over them (such as a production guard rail) reads them from.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from config import meshconfig
from config.istio import GATEWAY_OWNED, ISTIO_BASE_OWNED, ISTIOD_OWNED, IstioSettings
from config.kiali import KIALI_OWNED, PROMETHEUS_OWNED, DeployedPrometheus, KialiSettings
from config.problems import Problem, key_path
from config.signoz import AGENT_OWNED, SIGNOZ_OWNED, DeploySigNoz, RemoteSigNoz
from config.types import OwnedPaths
from versions.chart_values import SchemaPath, ValuePath, chart_values, shown, undeclared, under, unknown_paths
from versions.table import ChartId, facts

EXTRA_VALUES = "extraValues"
# istiod's chart passes this subtree to istiod as is; config/meshconfig.py checks it.
MESH_CONFIG = "meshConfig"
KIALI_CR = "crd-kiali.io-v1alpha1-Kiali"

_PART = re.compile(r'\["([^"]*)"\]|([^.\[]+)')


def parse_path(text: str) -> ValuePath:
    """`otelCollector.ingress.annotations["nginx.ingress.kubernetes.io/x"]` → its keys."""
    return tuple(quoted or plain for quoted, plain in _PART.findall(text))


@dataclass(frozen=True)
class ReleaseExtras:
    """One release's `extraValues` as the stack sets them, and what they are checked against."""

    # Where the stack sets them, as a settings location: ("istio", "istiod", "extraValues").
    loc: tuple[str | int, ...]
    chart: ChartId
    # The chart versions they go to (istiod's shared values go to every control plane).
    versions: tuple[str, ...]
    values: Mapping[str, Any]
    owned: OwnedPaths

    def key(self, path: SchemaPath) -> str:
        """The full stack key of a path inside them, as problems and stack-file lines name it."""
        return key_path((*self.loc, *path))


def release_extras(sections: Mapping[str, Any]) -> list[ReleaseExtras]:
    """Every installed release's `extraValues` that the stack's valid sections (`validate_settings`)
    set (those of a release the stack does not install are refused by `unused_extras`)."""
    found: list[ReleaseExtras] = []
    istio = sections.get("istio")
    if isinstance(istio, IstioSettings):
        found += _istio_extras(istio)
    signoz = sections.get("signoz")
    if isinstance(signoz, DeploySigNoz):
        found.append(_extras(("signoz",), ChartId.SIGNOZ, [signoz.chart_version], signoz.extra_values, SIGNOZ_OWNED))
    elif isinstance(signoz, RemoteSigNoz):
        remote = signoz.remote
        where = ("signoz", "remote")
        found.append(_extras(where, ChartId.K8S_INFRA, [remote.chart_version], remote.extra_values, AGENT_OWNED))
    kiali = sections.get("kiali")
    if isinstance(kiali, KialiSettings) and kiali.enabled:
        found.append(_extras(("kiali",), ChartId.KIALI, [kiali.chart_version], kiali.extra_values, KIALI_OWNED))
        prometheus = kiali.prometheus
        if isinstance(prometheus, DeployedPrometheus):
            where = ("kiali", "prometheus")
            version = [prometheus.chart_version]
            found.append(_extras(where, ChartId.PROMETHEUS, version, prometheus.extra_values, PROMETHEUS_OWNED))
    return [extras for extras in found if extras.values]


def _extras(
    block: tuple[str | int, ...], chart: ChartId, versions: list[str], values: Mapping[str, Any], owned: OwnedPaths
) -> ReleaseExtras:
    return ReleaseExtras((*block, EXTRA_VALUES), chart, tuple(versions), values, owned)


def _istio_extras(istio: IstioSettings) -> list[ReleaseExtras]:
    newest = [istio.newest_chart_version]
    found = [
        _extras(("istio", "base"), ChartId.ISTIO_BASE, newest, istio.base.extra_values, ISTIO_BASE_OWNED),
        _extras(("istio", "istiod"), ChartId.ISTIOD, istio.chart_versions(), istio.istiod.extra_values, ISTIOD_OWNED),
    ]
    if istio.gateway.enabled:
        found.append(
            _extras(("istio", "gateway"), ChartId.ISTIO_GATEWAY, newest, istio.gateway.extra_values, GATEWAY_OWNED)
        )
    for index, entry in enumerate(istio.revisions or []):
        where = ("istio", "revisions", index)
        found.append(_extras(where, ChartId.ISTIOD, [entry.chart_version], entry.extra_values, ISTIOD_OWNED))
    return found


def unused_extras(sections: Mapping[str, Any]) -> list[Problem]:
    """`extraValues` of a release the stack does not install: they would silently do nothing."""
    unused: list[tuple[tuple[str, ...], Mapping[str, Any], str]] = []
    istio = sections.get("istio")
    if isinstance(istio, IstioSettings) and not istio.gateway.enabled:
        unused.append((("istio", "gateway"), istio.gateway.extra_values, "istio.gateway.enabled is true"))
    kiali = sections.get("kiali")
    if isinstance(kiali, KialiSettings) and not kiali.enabled:
        unused.append((("kiali",), kiali.extra_values, "kiali.enabled is true"))
        if isinstance(kiali.prometheus, DeployedPrometheus):
            unused.append((("kiali", "prometheus"), kiali.prometheus.extra_values, "kiali.enabled is true"))
    return [
        Problem(key_path((*block, EXTRA_VALUES)), values, f"only used when {when}: that release is not installed")
        for block, values, when in unused
        if values
    ]


def extra_values_problems(sections: Mapping[str, Any]) -> list[Problem]:
    """Every refused path of every release's `extraValues`: owned ones first, then, of the rest,
    those the chart lacks; and those of a release the stack does not install."""
    problems: list[Problem] = unused_extras(sections)
    for extras in release_extras(sections):
        problems += owned_problems(extras)
        problems += chart_problems(extras, refused=[path for path, _ in _owned_hits(extras)])
    return problems


# --------------------------------------------------------------------------- paths the program sets


def _owned_hits(extras: ReleaseExtras) -> Iterator[tuple[ValuePath, ValuePath]]:
    """(path set, owned path it touches): a path at or below an owned one, or a value that is not a
    map above one (a merge puts it in place of everything below). Nothing below a hit is visited."""
    roots = [parse_path(text) for text in extras.owned]

    def walk(node: Mapping[str, Any], prefix: ValuePath) -> Iterator[tuple[ValuePath, ValuePath]]:
        for key, value in node.items():
            path = (*prefix, str(key))
            hit = next((root for root in roots if under(path, root)), None)
            if hit is None and not isinstance(value, Mapping):
                hit = next((root for root in roots if under(root, path)), None)
            if hit is not None:
                yield path, hit
            elif isinstance(value, Mapping):
                yield from walk(value, path)

    return walk(extras.values, ())


def _value_at(values: Mapping[str, Any], path: SchemaPath) -> Any:
    node: Any = values
    for part in path:
        node = node[part]
    return node


def owned_problems(extras: ReleaseExtras) -> list[Problem]:
    """The paths of `extras` the program sets itself, each named with the setting it comes from."""
    owners = {parse_path(text): owner for text, owner in extras.owned.items()}
    problems = []
    for path, root in _owned_hits(extras):
        name = shown(root)
        if under(path, root):
            why = f"{name} is set by the program {owners[root]}; remove it from extraValues (change that instead)"
        else:
            why = f"would replace {name}, which the program sets {owners[root]}; set the keys beside it instead"
        problems.append(Problem(extras.key(path), _value_at(extras.values, path), why))
    return problems


# --------------------------------------------------------------------------- paths the chart has


def chart_problems(extras: ReleaseExtras, refused: list[ValuePath]) -> list[Problem]:
    """The paths of `extras` the pinned chart does not have, in any version they go to (paths
    already refused as the program's are left out)."""
    problems: dict[SchemaPath, Problem] = {}
    for version in extras.versions:
        for path, why in _unknown(extras, version):
            if path not in problems and not any(under(path, done) for done in refused):
                problems[path] = Problem(extras.key(path), _value_at(extras.values, path), why)
        if extras.chart is ChartId.ISTIOD and isinstance(extras.values.get(MESH_CONFIG), Mapping):
            for where, why in meshconfig.problems(extras.values[MESH_CONFIG], version):
                if where not in problems and not any(under(where, done) for done in refused):
                    value = _value_at(extras.values, where)
                    problems[where] = Problem(extras.key(where), value, f"Istio {version}: {why}")
    return list(problems.values())


def _unknown(extras: ReleaseExtras, version: str) -> list[tuple[SchemaPath, str]]:
    """The outermost paths of `extras` the chart at `version` lacks, each with what is wrong."""
    chart = chart_values(extras.chart, version)
    if extras.chart is ChartId.KIALI:
        return _not_in_kiali_config(extras.values, version, unknown_paths(extras.values, chart))
    skip = (lambda path: path[0] == MESH_CONFIG) if extras.chart is ChartId.ISTIOD else (lambda path: False)
    return [
        (path, f"not a value of {chart.label}{_meant(chart.suggestion(path))}")
        for path in unknown_paths(extras.values, chart, skip=skip)
    ]


def _meant(hint: str | None) -> str:
    return f"; did you mean {hint}?" if hint else ""


def _not_in_kiali_config(
    values: Mapping[str, Any], version: str, unknown: list[ValuePath]
) -> list[tuple[SchemaPath, str]]:
    """Of the paths the kiali-server chart's defaults lack, those the Kiali CR's `spec` does not
    declare either (the deeper of the two is named): the chart renders its values into Kiali's
    configuration, which the CR documents field by field."""
    chart = chart_values(ChartId.KIALI, version)
    spec = facts(ChartId.KIALI, version, KIALI_CR)["schema"]["properties"]["spec"]
    found: list[tuple[SchemaPath, str]] = []
    for missing, close in undeclared(spec, values):
        for path in unknown:
            if under(missing, path) or under(path, missing):
                named: SchemaPath = missing if under(missing, path) else path
                hint = chart.suggestion(path) or (".".join([*map(str, missing[:-1]), close]) if close else None)
                why = f"not a value of {chart.label} nor a field of Kiali's configuration (the Kiali CR's spec)"
                found.append((named, why + _meant(hint)))
                break
    return found
