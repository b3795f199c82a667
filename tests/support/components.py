"""One component built alone under the recording mocks, and its golden files.

`record` runs a callable that constructs one ComponentResource (from Args the test built, and test
doubles for what other components would hand it) under the same mocks as the whole program
(`meshtools.recording.run_under_mocks`), and keeps what that component's tree registered. Its
desired state, rendered as the stack plans are (`meshtools.desired`), is the component's golden file
`tests/golden/components/<component>/<scenario>.yaml`: the tests compare with it and never write it;
`make golden` (scripts/golden.py) does.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import pulumi

from kube.resources import COMPONENT_TYPE_PREFIX, HELM_RELEASE_TYPE
from meshtools.desired import describe, mask, to_yaml
from meshtools.recording import Resource, Run, run_under_mocks

GOLDEN_COMPONENTS = Path(__file__).resolve().parent.parent / "golden" / "components"
REGENERATE = "make golden"
# The type tokens of test doubles (tests/components/builders.py: StandIn).
DOUBLE_TYPE_PREFIX = "test:doubles:"

C = TypeVar("C", bound=pulumi.ComponentResource)


@dataclass(frozen=True)
class Recorded(Generic[C]):
    """What one component registered: itself (`urn`), its tree (`resources`), its registered outputs."""

    run: Run
    component: C
    urn: str
    resources: list[Resource] = field(default_factory=list)

    @property
    def outputs(self) -> dict[str, Any]:
        """What the component passed to `register_outputs` (the wire drops null values)."""
        return self.run.component_outputs[self.urn]

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    def named(self, name: str) -> Resource:
        found = [r for r in self.resources if r.name == name]
        if len(found) != 1:
            raise KeyError(f"expected one resource named {name!r} in {self.name}, found {len(found)}")
        return found[0]

    def maybe(self, name: str) -> Resource | None:
        return next((r for r in self.resources if r.name == name), None)

    def names(self) -> set[str]:
        return {r.name for r in self.resources}

    def state(self) -> dict[str, Any]:
        """The golden document: the component and nested components with their outputs, and every
        resource of its tree described as the stack plans describe it (secrets masked)."""

        def outputs(urn: str) -> Any:
            return mask(self.run.component_outputs.get(urn, {}), self.run.secret_values)

        root = next(r for r in self.run if r.urn == self.urn)
        nested = {
            r.name: {"type": r.type, "parent": r.parent_name, "outputs": outputs(r.urn)}
            for r in sorted(self.resources, key=lambda r: r.name)
            if _is_component(r)
        }
        document: dict[str, Any] = {"component": {"name": root.name, "type": root.type, "outputs": outputs(root.urn)}}
        if nested:
            document["nested"] = nested
        document["resources"] = {
            r.name: describe(r, self.run) for r in sorted(self.resources, key=lambda r: r.name) if not _is_component(r)
        }
        return document

    def render(self) -> str:
        return to_yaml(self.state())


def _is_component(resource: Resource) -> bool:
    return resource.type.startswith(COMPONENT_TYPE_PREFIX)


def record(build: Callable[[], C], *, secrets: Iterable[str] = (), previous: Run | None = None) -> Recorded[C]:
    """Run `build` (which constructs one component) under the recording mocks.

    `secrets` are plain values the Args hold as Pulumi secrets: masked wherever they appear, as the
    plan masks secret config. Test doubles `build` registers (stand-ins) are not part of the tree.
    `previous` is a run whose state the mocks start from (generated values are kept, as the engine keeps
    them in state).
    """
    built: list[C] = []

    def body(run: Run) -> None:
        built.append(build())

    run = run_under_mocks(body, previous=previous)
    run.secret_values.update(secrets)
    [component] = built
    registered = {r.urn for r in run}
    roots = [r for r in run if _is_component(r) and r.parent not in registered]
    if len(roots) != 1:
        raise AssertionError(f"build() must register one top-level component, registered {len(roots)}")
    return Recorded(run, component, roots[0].urn, _tree(run, roots[0].urn))


def _tree(run: Run, urn: str) -> list[Resource]:
    """Every resource below `urn` (children, their children, …), in registration order."""
    inside = {urn}
    found: list[Resource] = []
    for resource in run:  # a parent registers before its children
        if resource.parent in inside:
            inside.add(resource.urn)
            found.append(resource)
    return found


def children_of(recorded: Recorded[Any]) -> list[Resource]:
    """The resources whose parent is the component itself."""
    return [r for r in recorded.resources if r.parent == recorded.urn]


# --------------------------------------------------------------------------- golden files


def golden_path(component: str, scenario: str) -> Path:
    return GOLDEN_COMPONENTS / component / f"{scenario}.yaml"


def check_golden(component: str, scenario: str, text: str) -> str | None:
    """None when the golden file holds `text`, else why not (with the diff and the command to run)."""
    path = golden_path(component, scenario)
    shown = path.relative_to(GOLDEN_COMPONENTS.parent.parent.parent)
    if not path.exists():
        return f"{shown} is missing: run `{REGENERATE}` and review it"
    expected = path.read_text()
    if expected == text:
        return None
    diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), str(shown), "now"))
    return f"{component} ({scenario}) registers something else than {shown}; if intended, run `{REGENERATE}`:\n{diff}"


def outside_the_tree(recorded: Recorded[Any]) -> list[str]:
    """What `build` registered that is neither in the component's tree nor a test double: a child
    created without `parent=self` would be a top-level resource of the stack."""
    tree = {r.urn for r in recorded.resources} | {recorded.urn}
    return [r.name for r in recorded.run if r.urn not in tree and not r.type.startswith(DOUBLE_TYPE_PREFIX)]


def releases_not_from(recorded: Recorded[Any], repository: str) -> list[str]:
    """The Helm releases of the tree not taken from `repository`: an OCI registry by chart reference,
    any other by the release's repository option."""
    wrong = []
    for release in (r for r in recorded.resources if r.type == HELM_RELEASE_TYPE):
        inputs = release.inputs
        if repository.startswith("oci://"):
            ok = inputs["chart"].startswith(f"{repository}/") and "repositoryOpts" not in inputs
        else:
            ok = inputs.get("repositoryOpts") == {"repo": repository} and "/" not in inputs["chart"]
        if not ok:
            wrong.append(release.name)
    return wrong
