"""The one table of Helm charts this program installs: repository, chart name, pinned versions.

Each chart lists the versions a stack may select; the first is the default pin. A version may only
be listed once the conformance facts for it exist under tests/facts/ (see scripts/derive_facts.py),
so a version bump is: derive the facts, add the version here, run the tests.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ChartId(enum.StrEnum):
    ISTIO_BASE = "istio-base"
    ISTIOD = "istiod"
    ISTIO_GATEWAY = "istio-gateway"
    SIGNOZ = "signoz"
    KIALI = "kiali-server"
    PROMETHEUS = "prometheus"
    K8S_INFRA = "k8s-infra"


@dataclass(frozen=True)
class Chart:
    repository: str
    name: str
    versions: tuple[str, ...]
    # The folder a local chart mirror keeps it under (`<folder>/<version>/<name>`): charts released
    # together share one (Istio's base, istiod and gateway live under istio/<version>/).
    mirror_folder: str = ""

    @property
    def folder(self) -> str:
        return self.mirror_folder or self.name

    @property
    def default_version(self) -> str:
        return self.versions[0]


# The Kubernetes versions Istio 1.30 supports; objects are validated for each, and charts are
# rendered offline as for the oldest.
KUBERNETES_VERSIONS = ("1.32.0", "1.33.0", "1.34.0", "1.35.0", "1.36.0")

_ISTIO_REPO = "https://istio-release.storage.googleapis.com/charts"
# Istio publishes base, istiod and gateway with one version; a stack selects it once (istio.chartVersion).
ISTIO_VERSIONS = ("1.30.5",)

CHARTS: dict[ChartId, Chart] = {
    ChartId.ISTIO_BASE: Chart(_ISTIO_REPO, "base", ISTIO_VERSIONS, "istio"),
    ChartId.ISTIOD: Chart(_ISTIO_REPO, "istiod", ISTIO_VERSIONS, "istio"),
    ChartId.ISTIO_GATEWAY: Chart(_ISTIO_REPO, "gateway", ISTIO_VERSIONS, "istio"),
    ChartId.SIGNOZ: Chart("https://charts.signoz.io", "signoz", ("0.131.0",)),
    ChartId.KIALI: Chart("https://kiali.org/helm-charts", "kiali-server", ("2.29.0",)),
    ChartId.PROMETHEUS: Chart("https://prometheus-community.github.io/helm-charts", "prometheus", ("29.27.0",)),
    # SigNoz's agent chart: an otelcol-contrib DaemonSet that forwards to a SigNoz elsewhere.
    ChartId.K8S_INFRA: Chart("https://charts.signoz.io", "k8s-infra", ("0.16.0",)),
}

# Which upstream release the committed facts of a pinned version were derived from, where they differ.
# Istio 1.30.4 (security) and 1.30.5 (bug fixes) changed no values file or CRD we could compare up to
# the release-1.30 head we had (2026-08-21); their source files were not available here, so their
# facts are those of 1.30.3. Re-derive from the 1.30.5 tag when it can be read.
FACTS_DERIVED_FROM: dict[tuple[ChartId, str], str] = {
    (ChartId.ISTIO_BASE, "1.30.5"): "1.30.3",
    (ChartId.ISTIOD, "1.30.5"): "1.30.3",
    (ChartId.ISTIO_GATEWAY, "1.30.5"): "1.30.3",
}


def facts_version(chart: ChartId, version: str) -> str:
    """The upstream version whose files the committed facts for `chart` at `version` come from."""
    return FACTS_DERIVED_FROM.get((chart, version), version)
