"""The post-deploy checks' registry: each check's name is written once, in its `@post_deploy(...)`.

A check is a function of a `Context` (a ClusterView, the stack's settings, the results so far) and
a `Target` (the control plane or namespace it looks at) that returns a `Result` — pass or fail,
what was seen, the fix — or None when it does not apply to this stack. The registry names it,
orders it by its `Stage` and runs it for every target of that stage: `make verify` runs every check
on the live cluster; the tests run the `offline` ones on a rendered stack. Adding a check is adding
one decorated function to the module of its kind (meshtools/datapath.py for what a ClusterView
shows, meshtools/verify/cli.py for what needs the collector or ClickHouse answering).

Nothing here imports a Kubernetes client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

from config.stack import StackSettings
from kube import revisions
from meshtools.clusterview import ClusterView


@dataclass(frozen=True)
class Result:
    """What a check found, without its name (the registry gives it)."""

    ok: bool
    detail: str
    fix: str = ""


def failed(problems: Sequence[str], fix: str) -> Result:
    """A FAIL listing every problem found at once."""
    return Result(False, "; ".join(problems), fix)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail, "fix": self.fix}


class Stage(Enum):
    """In the order verify runs them; the value says what the stage's checks look at."""

    CONTROL_PLANES = "istiod and the mesh config, for each control plane"
    MESH = "the mesh-wide Telemetry and PeerAuthentication"
    COLLECTOR = "the Service the mesh reports to, and what lies behind it"
    NAMESPACES = "for each meshed namespace: its label, its pods"
    ARRIVAL = "a span sent, and what arrived"


@dataclass(frozen=True)
class Target:
    """What one run of a check looks at: a control plane (the default one unless the stage runs for
    each), a meshed namespace and the revision its label selects."""

    control_plane: revisions.ControlPlane
    namespace: str = ""
    revision: str | None = None
    suffix: str = ""  # " (<revision>)" when the stack runs several control planes


@dataclass(frozen=True)
class Options:
    """verify's flags the checks read."""

    timeout: float = 120
    poll_interval: float = 3.0
    mesh_window: int = 15
    progress: Callable[[float], None] = lambda elapsed: None


@dataclass
class Context:
    view: ClusterView
    settings: StackSettings
    stack: str
    options: Options = field(default_factory=Options)
    results: list[Check] = field(default_factory=list)  # those run so far, for checks that read them
    # The registered functions with a failed result so far: a check reads another's outcome by the
    # function (`failed`), not by its printed name.
    failures: set[Callable[[Context, Target], Found]] = field(default_factory=set)

    def failed(self, check: Callable[[Context, Target], Found]) -> bool:
        return check in self.failures

    @property
    def what(self) -> str:
        """What receives the mesh's spans: the remote-mode agent, the tail sampler's trace router, or
        SigNoz's collector."""
        if self.settings.signoz.remote_mode:
            return "agent"
        return "trace router" if self.settings.tail_sampling.enabled else "collector"


Found = Result | Sequence[Result] | None


@dataclass(frozen=True)
class Registered:
    names: tuple[str, ...]  # templates: {what}, {namespace}; one per Result the function returns
    stage: Stage
    run: Callable[[Context, Target], Found]
    offline: bool  # it reads only what a rendered stack has too

    def named(self, context: Context, target: Target) -> list[str]:
        return [n.format(what=context.what, namespace=target.namespace) + target.suffix for n in self.names]


REGISTRY: list[Registered] = []


CheckFunction = TypeVar("CheckFunction", bound=Callable[[Context, Target], Found])


def post_deploy(*names: str, stage: Stage, offline: bool = False) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check under its name(s); `offline` when it also holds on rendered objects."""

    def register(run: CheckFunction) -> CheckFunction:
        REGISTRY.append(Registered(names, stage, run, offline))
        return run

    return register


def targets(stage: Stage, settings: StackSettings) -> Iterator[Target]:
    istio = settings.istio
    default = revisions.default_plane(istio)
    if stage is Stage.CONTROL_PLANES:
        planes = revisions.control_planes(istio)
        for plane in planes:
            yield Target(plane, suffix=f" ({plane.name})" if len(planes) > 1 else "")
    elif stage is Stage.NAMESPACES:
        for name, revision in revisions.meshed_namespaces(settings).items():
            yield Target(default, name, revision)
    else:
        yield Target(default)


Guard = Callable[[Sequence[str], Callable[[], Found]], Found]


def _unguarded(names: Sequence[str], run: Callable[[], Found]) -> Found:
    return run()


def run(
    context: Context, *, offline: bool = False, guard: Guard = _unguarded, stages: Sequence[Stage] = tuple(Stage)
) -> list[Check]:
    """Every registered check (only the offline ones with `offline`), stage by stage; within a stage
    target by target, in registration order. `guard` turns what a check raised into its result."""
    for stage in stages:
        checks = [r for r in REGISTRY if r.stage is stage and (r.offline or not offline)]
        for target in targets(stage, context.settings):
            for registered in checks:
                names = registered.named(context, target)
                found = guard(names, lambda: registered.run(context, target))  # noqa: B023 (called at once)
                if found is None:
                    continue
                found_results = [found] if isinstance(found, Result) else list(found)
                assert len(found_results) == len(names), f"{names} returned {len(found_results)} result(s)"
                context.results += [Check(n, o.ok, o.detail, o.fix) for n, o in zip(names, found_results, strict=True)]
                if not all(o.ok for o in found_results):
                    context.failures.add(registered.run)
    return context.results
