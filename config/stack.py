"""The whole `mesh-tracing:` config of a stack.

Every knob a stack file can turn is declared in config/, so a typo or an out-of-range value fails the
whole run before any resource is registered. Rules that relate two fields raise `FieldError` naming
the one field at fault; rules that span sections live in `config.reading`.
"""

from __future__ import annotations

from typing import Annotated, get_args

from pydantic import (
    BaseModel,
    Field,
    StrictBool,
)

from config.istio import IstioSettings
from config.kiali import KialiSettings
from config.namespaces import TracedNamespaceItem
from config.production import ProductionDecision, decide_production
from config.security import SecuritySettings
from config.signoz import DeploySigNoz, SigNozSettings
from config.tail_sampling import TailSamplingSettings
from config.types import (
    AttributeKey,
    ChartRepository,
    DnsLabel,
    GitHubSecretSuffix,
    MtlsMode,
    NonEmptyStr,
    Percent,
    SettingsModel,
    settings_union,
)
from versions.table import CHARTS, ChartId, Family

# --------------------------------------------------------------------------- the stack


# The namespace of the optional demo workload (`mesh-tracing:demo`), created and owned by the program;
# the reader refuses any other use of it.
DEMO_NAMESPACE = "mesh-tracing-demo"


class StackSettings(SettingsModel):
    environment: Annotated[DnsLabel, Field(description="the environment's name, e.g. dev or production")]
    cluster: Annotated[DnsLabel, Field(description="the cluster's name, e.g. prod-eu-west-1")]
    sampling_percent: Percent = 1.0
    mtls_mode: MtlsMode = MtlsMode.PERMISSIVE
    resource_attributes: dict[AttributeKey, NonEmptyStr] = {}
    istio: IstioSettings = IstioSettings()
    signoz: SigNozSettings = DeploySigNoz()
    kiali: KialiSettings = KialiSettings()
    traced_namespaces: list[TracedNamespaceItem] = []
    # A small traced application with its own load generator, so a new cluster shows traces at once;
    # refused in production (config.reading).
    demo: StrictBool = False
    tail_sampling: TailSamplingSettings = TailSamplingSettings()
    # Air-gapped sites: every release comes from this internal repository (same chart names and
    # versions) instead of the public repositories of the version table.
    chart_repository: ChartRepository | None = None
    security: SecuritySettings = SecuritySettings()
    # Whether the production guard rails apply; unset: decided by the environment's name
    # (`decide_production`).
    production: StrictBool | None = None
    # The suffix of the GitHub secrets CI reads for this stack (KUBECONFIG_<suffix>,
    # SIGNOZ_API_KEY_<suffix>); unset: derived from the stack's name (`meshtools.stacks`).
    github_secret_suffix: GitHubSecretSuffix | None = None

    @property
    def production_decision(self) -> ProductionDecision:
        return decide_production(self.environment, self.production)

    @property
    def is_production(self) -> bool:
        """Undecided counts as production: the settings reader refuses such a stack anyway."""
        return self.production_decision.production is not False

    def repository_of(self, chart: ChartId) -> str:
        """Where a chart comes from: istio.chartRepository for Istio's, else chartRepository, else the
        version table's repository."""
        family_override = self.istio.chart_repository if CHARTS[chart].family is Family.ISTIO else None
        return family_override or self.chart_repository or CHARTS[chart].repository


def models_in(annotation: object) -> list[type[BaseModel]]:
    """The models a block of this annotation may be: each member of a settings union, else the one
    model inside it (through Optional, list, dict, Annotated), else none."""
    union = settings_union(annotation)
    if union is not None:
        return list(union.members.values())
    found = first_model(annotation)
    return [found] if found is not None else []


def first_model(annotation: object) -> type[BaseModel] | None:
    """The pydantic model inside a field annotation (through Optional, list, dict, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = first_model(arg)
        if found is not None:
            return found
    return None
