"""Run the real program under Pulumi mocks and record every resource it registers.

One engine for the test suite, the benchmark and the offline plan: it executes `__main__.py` for a
stack file (plus overrides) with `pulumi.runtime.set_mocks`, and records per resource its type
token, name, inputs (secrets unwrapped, their paths remembered), parent and dependency URNs, the
resource options that reach the engine and what each component registers as its outputs. No CLI,
plugin, cluster or network is involved. `run_under_mocks` runs any other body (one component built
alone, for its tests) under the same mocks.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import runpy
import secrets as random_source
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.mocks import MockMonitor

from config.problems import PROJECT
from config.reading import is_encrypted
from kube.resources import HELM_RELEASE_TYPE
from kube.tree import DESCEND, rewrite
from meshtools.stacks import PROJECT_DIR, find_stack, read_config

PROGRAM = PROJECT_DIR / "__main__.py"

SECRET_SIG = rpc._special_sig_key  # "4dabf18193072939515e22adb298388d"
SECRET_VALUE = rpc._special_secret_sig

# Fake outputs a real provider would compute; keyed by type token.
_RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"


@dataclass(frozen=True)
class Resource:
    """One registered resource as the engine would see it."""

    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    secret_inputs: frozenset[str]
    parent: str
    dependencies: tuple[str, ...]
    protect: bool
    ignore_changes: tuple[str, ...]
    custom: bool
    delete_before_replace: bool = False

    @property
    def dependency_names(self) -> set[str]:
        return {urn.rsplit("::", 1)[-1] for urn in self.dependencies}

    @property
    def parent_name(self) -> str:
        return self.parent.rsplit("::", 1)[-1]


@dataclass
class Run:
    """What one evaluation of the program registered and exported."""

    resources: list[Resource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)
    # Plain values known to be secret (secret config, generated passwords), for masking leaf by
    # leaf: the wire only marks a whole top-level input as secret.
    secret_values: set[str] = field(default_factory=set)
    # What the mock "provider" returned per (type, name) with the inputs it saw: the state a next
    # run starts from, as the engine keeps outputs of resources whose inputs did not change.
    state: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)
    # What each component passed to `register_outputs`, by its URN (secrets unwrapped; the wire
    # drops null values).
    component_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def by_type(self, type_token: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_token]

    def named(self, name: str) -> Resource:
        found = [r for r in self.resources if r.name == name]
        if len(found) != 1:
            raise KeyError(f"expected one resource named {name!r}, found {len(found)}")
        return found[0]

    def maybe(self, name: str) -> Resource | None:
        return next((r for r in self.resources if r.name == name), None)

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources)


def unwrap_secrets(value: Any) -> tuple[Any, bool]:
    """Strip the wire format's secret markers; report whether any were present.

    The wire carries every number as a float64; integral ones come back as ints, as Helm and the
    API server read them.
    """
    found = False

    def visit(node: Any) -> Any:
        nonlocal found
        if isinstance(node, float) and node.is_integer():
            return int(node)
        if isinstance(node, dict) and node.get(SECRET_SIG) == SECRET_VALUE:
            found = True
            return rewrite(node.get("value"), visit)
        return DESCEND

    return rewrite(value, visit), found


class _Mocks(pulumi.runtime.Mocks):
    """A provider that generates a fresh random value for every generated output on create, and
    keeps the outputs of a resource whose inputs did not change since `previous` (as the engine does
    from state): a value the program regenerates on every run shows up as a change."""

    def __init__(self, run: Run, previous: Run | None) -> None:
        super().__init__()
        self._run = run
        self._previous = previous.state if previous is not None else {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        key = (args.typ, args.name)
        kept = self._previous.get(key)
        unchanged = kept is not None and kept[0] == args.inputs
        outputs = dict(kept[1]) if kept is not None and unchanged else self._created(args)
        self._run.state[key] = (dict(args.inputs), outputs)
        if args.typ == _RANDOM_PASSWORD:
            self._run.secret_values.add(outputs["result"])
        return f"{args.name}-id", outputs

    @staticmethod
    def _created(args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
        outputs = dict(args.inputs)
        if args.typ == _RANDOM_PASSWORD:
            length = int(args.inputs.get("length", 32))
            outputs["result"] = random_source.token_hex(length)[:length]
        if args.typ == HELM_RELEASE_TYPE:
            outputs["status"] = {
                "status": "deployed",
                "name": args.inputs.get("name"),
                "namespace": args.inputs.get("namespace"),
                "chart": args.inputs.get("chart"),
                "version": args.inputs.get("version"),
            }
        return outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class _RecordingMonitor(MockMonitor):
    def __init__(self, mocks: _Mocks, run: Run) -> None:
        super().__init__(mocks)
        self._run = run

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type == "pulumi:pulumi:Stack":
            return response
        inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        plain: dict[str, Any] = {}
        secret: set[str] = set()
        for key, value in inputs.items():
            plain[key], is_secret = unwrap_secrets(value)
            if is_secret:
                secret.add(key)
        self._run.resources.append(
            Resource(
                type=request.type,
                name=request.name,
                urn=response.urn,
                inputs=plain,
                secret_inputs=frozenset(secret),
                parent=request.parent,
                dependencies=tuple(request.dependencies),
                protect=bool(request.protect),
                ignore_changes=tuple(request.ignoreChanges),
                custom=bool(request.custom),
                delete_before_replace=bool(request.deleteBeforeReplace),
            )
        )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        if request.urn.split("::")[2] == "pulumi:pulumi:Stack":  # the stack's exports are `outputs`
            return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]
        outputs = rpc.deserialize_properties(request.outputs, keep_unknowns=True)
        self._run.component_outputs[request.urn] = unwrap_secrets(outputs)[0]
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


def _as_config_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def run_under_mocks(
    body: Callable[[Run], Any],
    *,
    config: Mapping[str, Any] | None = None,
    stack: str = "test",
    secrets: Mapping[str, str] | None = None,
    into: Run | None = None,
    previous: Run | None = None,
) -> Run:
    """Call `body(run)` under the recording mocks and wait until everything it registered resolved.

    `body` registers resources (the whole program, or one component built alone) and may return an
    Output or awaitable to wait for. Config (`mesh-tracing:key` → value) and secret config are set as
    `run_program` describes; any exception `body` raises propagates.
    """
    run = into if into is not None else Run()
    mocks = _Mocks(run, previous)
    monitor = _RecordingMonitor(mocks, run)
    plain = {k: _as_config_text(v) for k, v in (config or {}).items() if not is_encrypted(v)}
    secret_values = dict(secrets or {})
    run.secret_values.update(secret_values.values())
    if asyncio.get_event_loop_policy().get_event_loop().is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())  # a command closed it after an earlier run
    runtime_settings.ROOT.set(None)  # a fresh Stack per run, or exports leak between runs
    pulumi.runtime.set_all_config(plain | secret_values, secret_keys=list(secret_values))
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    # `runtime.test` drives the Pulumi event loop until every registration and apply has finished.
    pulumi.runtime.test(lambda: body(run))()  # type: ignore[no-untyped-call]
    return run


def run_program(
    config: Mapping[str, Any],
    *,
    stack: str = "test",
    secrets: Mapping[str, str] | None = None,
    program: Path = PROGRAM,
    into: Run | None = None,
    previous: Run | None = None,
) -> Run:
    """Evaluate `program` under mocks with `config` (`mesh-tracing:key` → value) and record it.

    Secret config (`secrets`) is marked secret exactly as `pulumi config set --secret` would. Any
    exception the program raises (e.g. a settings error) propagates; pass `into` to inspect what was
    registered before it, and `previous` to start from the state another run left.
    """

    def _evaluate(run: Run) -> pulumi.Output[list[None]]:
        runpy.run_path(str(program), run_name="__main__")
        root = runtime_settings.get_root_resource()
        exported: dict[str, Any] = dict(getattr(root, "outputs", {}) or {})
        return pulumi.Output.all(*[_capture(run, name, exported[name]) for name in sorted(exported)])

    return run_under_mocks(_evaluate, config=config, stack=stack, secrets=secrets, into=into, previous=previous)


def _capture(run: Run, name: str, value: Any) -> pulumi.Output[None]:
    output = pulumi.Output.from_input(value)

    async def _resolve() -> None:
        run.outputs[name] = await output.future()
        if await output.is_secret():
            run.secret_outputs.add(name)

    return pulumi.Output.from_input(asyncio.ensure_future(_resolve()))


def run_stack(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    remove: tuple[str, ...] = (),
    secrets: Mapping[str, str] | None = None,
    stacks_dir: Path = PROJECT_DIR,
    program: Path = PROGRAM,
    into: Run | None = None,
    previous: Run | None = None,
) -> Run:
    """Evaluate `program` for `stacks_dir`/Pulumi.<stack>.yaml, with per-run overrides (`key` → value;
    keys without a namespace are ours) and fake secret config values."""
    config = read_config(find_stack(stack, stacks_dir)).values
    for key in remove:
        config.pop(_qualified(key), None)
    for key, value in (overrides or {}).items():
        config[_qualified(key)] = value
    # `secure:` values cannot be decrypted without the CLI: a stand-in keeps what they enable.
    qualified_secrets = {key: fake_secret(key) for key, value in config.items() if is_encrypted(value)}
    qualified_secrets |= {_qualified(k): v for k, v in (secrets or {}).items()}
    return run_program(config, stack=stack, secrets=qualified_secrets, program=program, into=into, previous=previous)


def fake_secret(key: str) -> str:
    """A stand-in for an encrypted config value: 32 characters (a valid Kiali signing key too),
    the same for every run, so plans and golden files stay stable."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _qualified(key: str) -> str:
    return key if ":" in key else f"{PROJECT}:{key}"


def changed_resources(before: Run, after: Run) -> dict[str, str]:
    """Resources that differ between two runs, by name: "added", "removed" or "changed".

    Compares what the engine would diff: type, inputs and the options recorded for each resource.
    """

    def state(run: Run) -> dict[str, tuple[Any, ...]]:
        return {
            r.name: (r.type, r.inputs, r.secret_inputs, r.parent, sorted(r.dependencies), r.protect, r.ignore_changes)
            for r in run
        }

    old, new = state(before), state(after)
    result = dict.fromkeys(old.keys() - new.keys(), "removed")
    result.update(dict.fromkeys(new.keys() - old.keys(), "added"))
    result.update({name: "changed" for name in old.keys() & new.keys() if old[name] != new[name]})
    return result
