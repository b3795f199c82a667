"""`mesh-tracing:tracedNamespaces`: the application namespaces in the mesh."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    BeforeValidator,
    StrictBool,
    model_validator,
)

from config.types import CustomTags, DnsLabel, MtlsMode, Percent, SettingsModel, check_reserved_tags

# --------------------------------------------------------------------------- traced namespaces


def _name_to_object(value: object) -> object:
    return {"name": value} if isinstance(value, str) else value


class TracedNamespaceSettings(SettingsModel):
    name: DnsLabel
    adopt: StrictBool = False
    # With istio.revisions: the tag (or revision) whose control plane injects its pods; absent = the
    # `default` tag.
    revision: DnsLabel | None = None
    sampling_percent: Percent | None = None
    mtls_mode: MtlsMode | None = None
    custom_tags: CustomTags | None = None

    @model_validator(mode="after")
    def _no_reserved_tags(self) -> TracedNamespaceSettings:
        check_reserved_tags(self.custom_tags)
        return self


TracedNamespaceItem = Annotated[TracedNamespaceSettings, BeforeValidator(_name_to_object)]
