"""The version table: which charts the program installs, where they come from, and which versions.

Everything that depends on a chart version lives in one folder per version, `versions/<family>/<version>/`:

- `release.yaml` (written by hand, reviewed): the upstream release the facts and offline renders come
  from when the pinned one cannot be read (`upstream`), and, for Istio, the Kubernetes versions the
  release supports and the images tied to it;
- `facts/` (written by `make facts`, never by hand): every value path of the chart's default values,
  the chart defaults the program restates (the collector's pipelines and extensions, Kiali's display
  details, the agent's batch settings), the CRD schemas of the custom resources the program writes,
  and the collector component lists.

A chart's versions are the folders of its family; the newest is the default pin. A bump is therefore:
add the folder with its `release.yaml`, run `make facts golden`, review the diff (docs/upgrading.md).
"""

from __future__ import annotations

import enum
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

VERSIONS_DIR = Path(__file__).resolve().parent
RELEASE_FILE = "release.yaml"
FACTS_DIR = "facts"


class ChartId(enum.StrEnum):
    ISTIO_BASE = "istio-base"
    ISTIOD = "istiod"
    ISTIO_GATEWAY = "istio-gateway"
    SIGNOZ = "signoz"
    KIALI = "kiali-server"
    PROMETHEUS = "prometheus"
    K8S_INFRA = "k8s-infra"


class Family(enum.StrEnum):
    """Charts released together, with one version (Istio's base, istiod and gateway), or alone."""

    ISTIO = "istio"
    SIGNOZ = "signoz"
    KIALI = "kiali-server"
    PROMETHEUS = "prometheus"
    K8S_INFRA = "k8s-infra"


def version_key(version: str) -> tuple[tuple[int, ...], int, str]:
    """Semantic-version order: 1.31.4 > 1.30.8, and a release above its own release candidates."""
    core, _, pre = version.partition("-")
    numbers = tuple(int(part) for part in re.findall(r"\d+", core))
    return numbers, 0 if pre else 1, pre


@dataclass(frozen=True)
class Chart:
    family: Family
    name: str
    repository: str

    @property
    def folder(self) -> str:
        """The folder a local chart mirror keeps it under (`<folder>/<version>/<name>`)."""
        return self.family.value

    @property
    def versions(self) -> tuple[str, ...]:
        """The versions a stack may select, newest first: the folders of the family."""
        return family_versions(self.family)

    @property
    def default_version(self) -> str:
        return self.versions[0]


# Istio's charts of every version; the retired googleapis bucket is gone from December 2026.
ISTIO_REPOSITORY = "https://blob.istio.io/istio-release/charts"
# The same charts as OCI artifacts, documented as the alternative (istio.chartRepository).
ISTIO_OCI_REPOSITORY = "oci://ghcr.io/istio/release/charts"
# Where Istio's release images are pulled from unless istio.hub says otherwise.
ISTIO_HUB = "docker.io/istio"

CHARTS: dict[ChartId, Chart] = {
    ChartId.ISTIO_BASE: Chart(Family.ISTIO, "base", ISTIO_REPOSITORY),
    ChartId.ISTIOD: Chart(Family.ISTIO, "istiod", ISTIO_REPOSITORY),
    ChartId.ISTIO_GATEWAY: Chart(Family.ISTIO, "gateway", ISTIO_REPOSITORY),
    ChartId.SIGNOZ: Chart(Family.SIGNOZ, "signoz", "https://charts.signoz.io"),
    ChartId.KIALI: Chart(Family.KIALI, "kiali-server", "https://kiali.org/helm-charts"),
    ChartId.PROMETHEUS: Chart(Family.PROMETHEUS, "prometheus", "https://prometheus-community.github.io/helm-charts"),
    # SigNoz's agent chart: an otelcol-contrib DaemonSet that forwards to a SigNoz elsewhere.
    ChartId.K8S_INFRA: Chart(Family.K8S_INFRA, "k8s-infra", "https://charts.signoz.io"),
}

# Locations Istio retired (charts and images), which nothing the program renders may use.
RETIRED_LOCATIONS = (
    "istio-release.storage.googleapis.com",
    "gcr.io/istio-release",
    "registry.istio.io/release",
    # The git tree's default hub: development builds, never a release.
    "registry.istio.io/testing",
)


@functools.cache
def family_versions(family: Family) -> tuple[str, ...]:
    folder = VERSIONS_DIR / family.value
    found = [p.name for p in folder.iterdir() if (p / RELEASE_FILE).is_file()] if folder.is_dir() else []
    return tuple(sorted(found, key=version_key, reverse=True))


def version_dir(chart: ChartId, version: str) -> Path:
    return VERSIONS_DIR / CHARTS[chart].folder / version


@functools.cache
def release_data(chart: ChartId, version: str) -> dict[str, Any]:
    """The hand-written `release.yaml` of a chart version (empty when it says nothing)."""
    path = version_dir(chart, version) / RELEASE_FILE
    if not path.is_file():
        raise LookupError(f"{CHARTS[chart].name} {version} is not in the version table (no {path})")
    data: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
    return data


def upstream_version(chart: ChartId, version: str) -> str:
    """The upstream release whose files the facts and offline renders of `chart` at `version` come
    from: the pinned version itself unless its `release.yaml` names another (`upstream`)."""
    return str(release_data(chart, version).get("upstream", version))


@functools.cache
def facts(chart: ChartId, version: str, name: str | None = None) -> dict[str, Any]:
    """One facts file of a chart version: the chart's values facts (`<chart id>.json`) by default."""
    path = version_dir(chart, version) / FACTS_DIR / f"{name or chart.value}.json"
    if not path.is_file():
        raise LookupError(f"no facts {path.relative_to(VERSIONS_DIR.parent)}: run `make facts`")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@dataclass(frozen=True)
class IstioRelease:
    """What an Istio version brings besides its charts."""

    version: str
    kubernetes: tuple[str, ...]  # minor versions it supports, oldest first
    bookinfo_tag: str  # the tag of Istio's Bookinfo sample images at this release

    @property
    def kubernetes_patches(self) -> tuple[str, ...]:
        """`<minor>.0` of each supported Kubernetes minor, as the validators and renderers take it."""
        return tuple(f"{minor}.0" for minor in self.kubernetes)


@functools.cache
def istio_release(version: str) -> IstioRelease:
    data = release_data(ChartId.ISTIOD, version)
    minors = tuple(sorted((str(v) for v in data["kubernetes"]), key=version_key))
    return IstioRelease(version=version, kubernetes=minors, bookinfo_tag=str(data["bookinfoTag"]))


def all_kubernetes_versions() -> tuple[str, ...]:
    """Every Kubernetes version some listed Istio version supports, oldest first."""
    found = {v for istio in CHARTS[ChartId.ISTIOD].versions for v in istio_release(istio).kubernetes_patches}
    return tuple(sorted(found, key=version_key))
