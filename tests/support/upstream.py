"""The facts of the pinned versions (`versions/<family>/<version>/facts/`, made by `make facts`), as the
tests read them."""

from __future__ import annotations

import functools
from typing import Any

from versions.table import CHARTS, ChartId, facts


def chart(chart_id: ChartId, version: str) -> dict[str, Any]:
    """The values facts of `chart_id` at a pinned `version`."""
    return facts(chart_id, version)


@functools.cache
def collector_packages(image_tag: str) -> frozenset[str]:
    """Component packages of the SigNoz collector build the signoz chart version with this image tag runs."""
    for version in CHARTS[ChartId.SIGNOZ].versions:
        if facts(ChartId.SIGNOZ, version)["collector"]["image_tag"] == image_tag:
            return frozenset(facts(ChartId.SIGNOZ, version, "collector-components")["packages"])
    raise LookupError(f"no signoz chart version runs collector {image_tag}")


def component_package(kind: str, name: str) -> str:
    """The Go package that provides a collector component: its type without `_`, then the kind
    (`memory_limiter/x` among processors → memorylimiterprocessor), as both builds name them."""
    return name.split("/", 1)[0].replace("_", "") + kind.removesuffix("s")


@functools.cache
def contrib_components(version: str) -> dict[str, Any]:
    """Component packages (by kind) of the otelcol-contrib distribution at `version` (the agent image)."""
    for chart_version in CHARTS[ChartId.K8S_INFRA].versions:
        if facts(ChartId.K8S_INFRA, chart_version)["agent"]["image_tag"] == version:
            return facts(ChartId.K8S_INFRA, chart_version, "agent-components")
    raise LookupError(f"no k8s-infra chart version runs otelcol-contrib {version}")


def crd(group: str, version: str, kind: str, chart_version: str | None = None) -> dict[str, Any]:
    """The schema record of one custom resource kind, from the chart that ships its CRD: Istio's base
    (at `chart_version`, else the default pin) or kiali-server."""
    chart_id = ChartId.KIALI if group == "kiali.io" else ChartId.ISTIO_BASE
    return facts(chart_id, chart_version or CHARTS[chart_id].default_version, f"crd-{group}-{version}-{kind}")
