"""`make e2e`: the real Pulumi engine, Kubernetes provider and API server run the e2e test stacks.

Everything is built from the Go module proxy by tools/toolchain.py (a part that cannot be built fails
these tests, never skips them). Two loopback clusters (meshtools.e2e.cluster), one per stack: the
deploy-mode stack e2e-central, which is also the central SigNoz, and the remote-mode stack
e2e-remote that sends to it. Both install Istio's cluster-scoped objects, so one cluster cannot hold
both. What the cluster answers is compared with the offline run of the same stack file and config
(meshtools.recording / desired / manifests: what `make plan` and `make manifests` show).

The tests of a class run in order and share one stack; each prints the engine's output as it comes.
"""

from __future__ import annotations

import base64
import json
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kube.resources import HELM_RELEASE_TYPE, TELEMETRY_TYPE
from meshtools.desired import MASK, desired_state
from meshtools.e2e import chart_repository
from meshtools.e2e.cluster import Binaries, LoopbackCluster, terminated_on_signals
from meshtools.e2e.readback import Resource, discover, helm_release_record, identity, missing_objects
from meshtools.e2e.stack import E2E_PYTHON, PROJECT_DIR, Done, E2EStack, policy_launcher, pulumi_env
from meshtools.manifests import Manifest, stack_manifests
from meshtools.recording import Run, changed_resources, run_stack
from tools import toolchain

STACKS = Path(__file__).resolve().parent / "stacks"
PASSPHRASE = "mesh-tracing-e2e-passphrase"
# The Kubernetes provider the proxy serves, and the SDK release the e2e virtualenv pins to match it.
PROVIDER_VERSION = "4.25.0"


@dataclass(frozen=True)
class Tools:
    pulumi_root: Path
    provider: Path
    cluster: Binaries


def _built(name: str) -> Path:
    """The cache folder of one tool, built if needed; a tool that cannot be built fails the run."""
    tool = toolchain.load_tool(name)
    try:
        was_cached = tool.cached
        _, seconds = toolchain.build(tool)
    except toolchain.BuildError as error:
        pytest.fail(f"{name} cannot be built from the Go module proxy: {error}", pytrace=False)
    print(f"{name} {tool.version}: {'reused' if was_cached else f'built in {seconds:.0f} s'}", flush=True)
    return tool.cache_dir


@pytest.fixture(scope="session")
def tools() -> Tools:
    kubernetes, etcd, kwok = _built("kubernetes") / "bin", _built("etcd") / "bin", _built("kwok")
    cluster = Binaries(
        etcd=etcd / "etcd",
        kube_apiserver=kubernetes / "kube-apiserver",
        kube_controller_manager=kubernetes / "kube-controller-manager",
        kube_scheduler=kubernetes / "kube-scheduler",
        kwok=kwok / "bin" / "kwok",
        kwok_stages=kwok / "share" / "stages",
    )
    provider = _built("pulumi-kubernetes") / "bin" / "pulumi-resource-kubernetes"
    return Tools(pulumi_root=_built("pulumi"), provider=provider, cluster=cluster)


@dataclass(frozen=True)
class Home:
    """The CLI's environment (PULUMI_HOME with the built provider installed under its own release,
    the file backend, the passphrase) and what `--policy-pack` is given."""

    env: dict[str, str]
    policy_pack: Path


@pytest.fixture(scope="session")
def pulumi_home(tools: Tools) -> Iterator[Home]:
    assert E2E_PYTHON.exists(), f"{E2E_PYTHON} is missing: run `make e2e`, which makes the e2e virtualenv"
    with tempfile.TemporaryDirectory(prefix="mesh-tracing-e2e-home-") as home:
        env = pulumi_env(Path(home), tools.pulumi_root / "bin", PASSPHRASE)
        pack = policy_launcher(Path(home), tools.pulumi_root / "bin", PROJECT_DIR / "policy", PROJECT_DIR / ".venv")
        stack = E2EStack("e2e-plugins", STACKS / "Pulumi.e2e-central.yaml", env, tools.pulumi_root, pack)
        stack.cli("version")
        stack.cli("plugin", "install", "resource", "kubernetes", PROVIDER_VERSION, "--file", str(tools.provider))
        stack.remove()
        yield Home(env, pack)


@pytest.fixture(scope="session")
def chart_repo() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="mesh-tracing-charts-") as folder:
        packaged = chart_repository.build(Path(folder))
        for chart in packaged:
            note = f" ({chart.note})" if chart.note else ""
            print(f"chart repository: {chart.name} {chart.version}{note}")
        with chart_repository.serve(Path(folder)) as url:
            yield url


@dataclass
class Deployment:
    """A stack on its own loopback cluster, with the secrets it was given."""

    stack: E2EStack
    cluster: LoopbackCluster
    secrets: dict[str, str]

    def offline(self, **overrides: Any) -> Run:
        """The offline run of the same stack file and config (what `make plan` evaluates)."""
        plain = {k.split(":", 1)[1]: v for k, v in self.secrets.items()}
        return run_stack(self.stack.name, overrides, secrets=plain, stacks_dir=self.stack.work_dir)


def _deployment(name: str, tools: Tools, home: Home, repo: str, secret_values: dict[str, str]) -> Iterator[Deployment]:
    with terminated_on_signals(), LoopbackCluster(tools.cluster, f"{name}-loopback") as cluster:
        stack_env = {**home.env, "KUBECONFIG": str(cluster.layout.kubeconfig)}
        stack = E2EStack(name, STACKS / f"Pulumi.{name}.yaml", stack_env, tools.pulumi_root, home.policy_pack)
        try:
            stack.init(
                {"kubernetes:context": cluster.context, "mesh-tracing:chartRepository": repo},
                secret_values,
            )
            yield Deployment(stack, cluster, secret_values)
        finally:
            stack.remove()


INGEST_KEY = secrets.token_hex(16)


@pytest.fixture(scope="class")
def central(tools: Tools, pulumi_home: Home, chart_repo: str) -> Iterator[Deployment]:
    values = {
        "mesh-tracing:clickhousePassword": secrets.token_hex(16),
        "mesh-tracing:kialiSigningKey": secrets.token_hex(16),
        "mesh-tracing:signozIngestKey": INGEST_KEY,
    }
    yield from _deployment("e2e-central", tools, pulumi_home, chart_repo, values)


@pytest.fixture(scope="class")
def remote(tools: Tools, pulumi_home: Home, chart_repo: str) -> Iterator[Deployment]:
    values = {"mesh-tracing:kialiSigningKey": secrets.token_hex(16), "mesh-tracing:signozIngestKey": INGEST_KEY}
    yield from _deployment("e2e-remote", tools, pulumi_home, chart_repo, values)


# --------------------------------------------------------------------------- assertions on the cluster


def _urns(done: Done, op: str) -> set[str]:
    return {s["urn"] for s in done.steps if s["op"] == op and not s["type"].startswith("pulumi:")}


def _expected_urns(run: Run) -> set[str]:
    """The offline run's URNs as the engine writes them: the engine leaves the root stack's type out
    of its children's type chains, the SDK's mocks keep it."""
    return {r.urn.replace("::pulumi:pulumi:Stack$", "::", 1) for r in run}


def _rendered(deployment: Deployment) -> list[Manifest]:
    """Every object `make manifests` lists for the stack (CRDs whole), but the patches of objects
    the stack does not own (adopted namespaces)."""
    state = desired_state(deployment.stack.name, deployment.offline())
    return [m for m in stack_manifests(state, full_crds=True).objects if not m.origin.startswith("patch")]


def _kept_by_helm(manifest: Manifest) -> bool:
    """CRDs `helm uninstall` leaves: those of a chart's crds/ folder (Helm never deletes them) and
    those annotated `helm.sh/resource-policy: keep` (Istio's base chart)."""
    annotations = manifest.object["metadata"].get("annotations") or {}
    return manifest.object["kind"] == "CustomResourceDefinition" and (
        "/crds/" in manifest.origin or annotations.get("helm.sh/resource-policy") == "keep"
    )


def _title(obj: dict[str, Any]) -> str:
    _, kind, namespace, name = identity(obj)
    return f"{kind} {namespace + '/' if namespace else ''}{name}"


def _live(cluster: LoopbackCluster, served: dict[tuple[str, str], Resource], obj: dict[str, Any]) -> dict[str, Any]:
    api_version, kind, namespace, name = identity(obj)
    resource = served.get((api_version, kind))
    return cluster.get(resource.path(name, namespace)) if resource else {}


def _subset_problems(wanted: Any, live: Any, path: str = "") -> list[str]:
    """Where `live` lacks or differs from what `wanted` sets (the API server adds defaults)."""
    if isinstance(wanted, dict) and isinstance(live, dict):
        return [p for k, v in wanted.items() for p in _subset_problems(v, live.get(k), f"{path}.{k}")]
    if isinstance(wanted, list) and isinstance(live, list) and len(wanted) == len(live):
        pairs = enumerate(zip(wanted, live, strict=True))
        return [p for i, (w, v) in pairs for p in _subset_problems(w, v, f"{path}[{i}]")]
    if wanted == live or MASK in (wanted, live):  # a masked secret matches any value
        return []
    return [f"{path}: wanted {wanted!r}, the cluster has {live!r}"]


def _release_problems(cluster: LoopbackCluster, name: str, entry: dict[str, Any]) -> list[str]:
    """The release Helm recorded: deployed, at the pinned chart version, with the planned values."""
    release = entry["release"]
    path = f"/api/v1/namespaces/{release['namespace']}/secrets/sh.helm.release.v1.{release['name']}.v1"
    record_secret = cluster.get(path)
    if not record_secret:
        return [f"{name}: no Helm release record {release['namespace']}/{release['name']}"]
    record = helm_release_record(record_secret)
    problems = [f"{name} values{p}" for p in _subset_problems(entry["values"], record.get("config") or {})]
    if record["info"]["status"] != "deployed":
        problems.append(f"{name}: Helm release status {record['info']['status']}")
    if record["chart"]["metadata"]["version"] != release["version"]:
        problems.append(f"{name}: chart {record['chart']['metadata']['version']}, pinned {release['version']}")
    return problems


def _object_problems(live: dict[str, Any], name: str, inputs: dict[str, Any]) -> list[str]:
    """An object the program registers itself: its name, labels, spec and data as planned."""
    if not live:
        return [f"{name}: {_title(inputs)} not in the cluster"]
    wanted = {k: v for k, v in inputs.items() if k in {"spec", "data", "type"}}
    wanted["metadata"] = {k: v for k, v in inputs["metadata"].items() if k in {"name", "namespace", "labels"}}
    problems = [f"{name}{p}" for p in _subset_problems(wanted, live)]
    if inputs["kind"] == "Secret":
        # stringData is write-only: the API server keeps it as data, base64-encoded.
        data = {k: base64.b64decode(v).decode() for k, v in (live.get("data") or {}).items()}
        problems += [f"{name} stringData{p}" for p in _subset_problems(inputs.get("stringData"), data)]
    return problems


def _config_map_problems(live: dict[str, Any], obj: dict[str, Any]) -> list[str]:
    """A rendered ConfigMap (collector, mesh, Kiali configs) holds what `make manifests` rendered."""
    problems = []
    for key, text in (obj.get("data") or {}).items():
        found = (live.get("data") or {}).get(key)
        if found != text:
            planned, actual = yaml.safe_load(text), yaml.safe_load(found or "")
            problems += [f"{_title(obj)} {key}{p}" for p in _subset_problems(planned, actual)]
            problems += [f"{_title(obj)} {key} (not planned){p}" for p in _subset_problems(actual, planned)]
    return problems


def assert_cluster_matches(deployment: Deployment) -> None:
    """Every object the offline run registers directly is in the cluster with its labels and spec;
    every Helm release is deployed at its pinned chart version with the planned values; every object
    `make manifests` lists is answered by the API server, and each ConfigMap holds what it rendered."""
    cluster = deployment.cluster
    state = desired_state(deployment.stack.name, deployment.offline())
    served = discover(cluster.get)
    problems: list[str] = []
    for name, entry in state["resources"].items():
        inputs = entry.get("inputs") or {}
        if entry["type"] == HELM_RELEASE_TYPE:
            problems += _release_problems(cluster, name, entry)
        elif "apiVersion" in inputs and "kind" in inputs:
            problems += _object_problems(_live(cluster, served, inputs), name, inputs)
    rendered = [m.object for m in stack_manifests(state).objects]
    problems += missing_objects(rendered, served, cluster.get)
    for obj in rendered:
        if obj["kind"] == "ConfigMap":
            problems += _config_map_problems(_live(cluster, served, obj), obj)
    print(f"read back {len(rendered)} rendered objects and {len(state['resources'])} resources of the plan")
    assert not problems, "the cluster differs from the plan:\n" + "\n".join(problems)


def assert_first_deploy(preview: Done, up: Done, run: Run) -> None:
    """The engine's plan and its update create exactly the resources of the offline run."""
    assert preview.returncode == 0, "pulumi preview failed (output above)"
    assert "Policy Packs run:" in preview.output, "the policy pack did not run"
    assert "can't run policy" not in preview.output, "every rule runs in a preview"
    expected = _expected_urns(run)
    assert _urns(preview, "create") == expected, "the engine's plan differs from the offline run"
    assert up.returncode == 0, "pulumi up failed (output above)"
    assert _urns(up, "create") == expected


def _eventually(check: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(1)
    return check()


def assert_destroyed(deployment: Deployment, rendered: list[Manifest]) -> None:
    """After `pulumi destroy`: no object the stack rendered or registered is left but the CRDs Helm
    keeps; adopted namespaces are not the stack's (their label goes, checked by the caller)."""
    cluster = deployment.cluster
    served = discover(cluster.get)
    objects = [m.object for m in rendered if not _kept_by_helm(m)]
    kept = {m.object["metadata"]["name"] for m in rendered if _kept_by_helm(m)}

    def left() -> list[str]:
        return [_title(o) for o in objects if _live(cluster, served, o)]

    assert _eventually(lambda: not left()), f"left after destroy: {left()}"
    crds = {
        c["metadata"]["name"] for c in cluster.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")["items"]
    }
    assert crds == kept, "exactly the CRDs Helm keeps stay"
    assert _eventually(lambda: not cluster.get("/api/v1/persistentvolumes")["items"]), "volumes are released"
    print(f"after destroy: {len(kept)} CRDs kept by Helm (crds/ folders, resource policy keep), nothing else")


# --------------------------------------------------------------------------- the deploy-mode stack


class TestCentral:
    """Deploy mode (and the central ingest of e2e-remote): preview with the policy pack, up, read back,
    a no-change preview, a one-resource sampling change, a refused bad value, destroy."""

    def test_preview_then_up_creates_what_the_plan_lists(self, central: Deployment) -> None:
        # An adopted namespace exists before the stack; the program only labels it.
        central.cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "legacy"}})
        preview = central.stack.preview()
        up = central.stack.up()
        assert_first_deploy(preview, up, central.offline())

    def test_the_cluster_holds_what_the_plan_and_manifests_say(self, central: Deployment) -> None:
        assert_cluster_matches(central)

    def test_a_second_preview_changes_nothing(self, central: Deployment) -> None:
        done = central.stack.preview("--expect-no-changes")
        assert done.returncode == 0, "pulumi preview --expect-no-changes found changes (output above)"
        assert set(done.changes) == {"same"}

    def test_a_sampling_change_updates_only_the_mesh_telemetry(self, central: Deployment) -> None:
        before, after = central.offline(), central.offline(samplingPercent=20)
        predicted = changed_resources(before, after)
        central.stack.cli("config", "set", "mesh-tracing:samplingPercent", "20")
        preview = central.stack.preview()
        assert preview.returncode == 0
        changed = preview.changed()
        assert [(s["op"], s["type"]) for s in changed] == [("update", TELEMETRY_TYPE)], changed
        assert {s["urn"].rsplit("::", 1)[-1] for s in changed} == set(predicted), "as the offline plan predicts"
        up = central.stack.up()
        assert up.returncode == 0 and up.changes.get("update") == 1, up.changes
        telemetry = after.named(next(iter(predicted))).inputs
        live = _live(central.cluster, discover(central.cluster.get), telemetry)
        assert live["spec"]["tracing"][0]["randomSamplingPercentage"] == 20

    def test_a_bad_stack_value_fails_preview_with_the_programs_message(self, central: Deployment) -> None:
        central.stack.cli("config", "set", "mesh-tracing:samplingPercent", "150")
        try:
            done = central.stack.preview()
        finally:
            central.stack.cli("config", "set", "mesh-tracing:samplingPercent", "20")
        assert done.returncode != 0
        assert "mesh-tracing:samplingPercent: got 150" in done.output, "the program's problem line"
        assert "Traceback" not in done.output

    def test_what_the_cli_makes_of_mistyped_keys(self, central: Deployment) -> None:
        """Pulumi's ParseKey (CLI v3.276.0): a key with a second colon is refused by the CLI itself; a
        dot for the colon makes a key of the project's namespace, which the program refuses."""
        text = central.stack.file.read_text()
        key = "mesh-tracing:samplingPercent:"
        try:
            central.stack.file.write_text(text.replace(key, "mesh-tracing:sampling:percent:"))
            refused = central.stack.cli("config", check=False)
            central.stack.file.write_text(text.replace(key, "mesh-tracing.samplingPercent:"))
            dotted = central.stack.preview()
        finally:
            central.stack.file.write_text(text)
        assert refused.returncode != 0
        assert "could not parse mesh-tracing:sampling:percent as a configuration key" in refused.output
        assert dotted.returncode != 0 and "Traceback" not in dotted.output
        assert "mesh-tracing:mesh-tracing.samplingPercent: got" in dotted.output
        assert "unknown key; did you mean mesh-tracing:samplingPercent?" in dotted.output

    def test_destroy_removes_what_the_stack_created(self, central: Deployment) -> None:
        run, rendered = central.offline(), _rendered(central)
        done = central.stack.destroy()
        assert done.returncode == 0, "pulumi destroy failed (output above)"
        assert _urns(done, "delete") == _expected_urns(run)
        assert_destroyed(central, rendered)
        legacy = central.cluster.get("/api/v1/namespaces/legacy")
        assert legacy, "an adopted namespace outlives the stack"
        assert "istio-injection" not in (legacy["metadata"].get("labels") or {}), "destroy removes its label"


# --------------------------------------------------------------------------- the remote-mode stack


class TestRemote:
    """Remote mode on its own cluster, the agent sending to e2e-central's ingest. Protected
    (signoz.protect): destroy deletes everything else, refuses the agent's release and namespace,
    and completes once the protection is turned off and applied."""

    def test_preview_then_up_creates_what_the_plan_lists(self, remote: Deployment) -> None:
        preview = remote.stack.preview()
        up = remote.stack.up()
        assert_first_deploy(preview, up, remote.offline())

    def test_the_cluster_holds_what_the_plan_and_manifests_say(self, remote: Deployment) -> None:
        assert_cluster_matches(remote)
        assert "signoz-ingest.e2e.test" in json.dumps(remote.offline().outputs["tracesDestination"])

    def test_destroy_refuses_protected_resources_until_unprotected(self, remote: Deployment) -> None:
        run, rendered = remote.offline(), _rendered(remote)
        protected = Run([r for r in run if r.protect])
        needed = {name for r in protected for name in r.dependency_names}  # deleted after what needs them
        unprotected = Run([r for r in run if r.custom and not r.protect and r.name not in needed])
        assert {r.type for r in protected} == {HELM_RELEASE_TYPE, "kubernetes:core/v1:Namespace"}
        refused = remote.stack.destroy()
        assert refused.returncode != 0
        assert "because it is protected" in refused.output
        assert _urns(refused, "delete") >= _expected_urns(unprotected), "everything unprotected is deleted"
        remote.stack.cli("config", "set", "--path", "mesh-tracing:signoz.protect", "false")
        assert remote.stack.up().returncode == 0
        done = remote.stack.destroy()
        assert done.returncode == 0, "pulumi destroy failed (output above)"
        assert _urns(done, "delete") == _expected_urns(run)
        assert_destroyed(remote, rendered)
