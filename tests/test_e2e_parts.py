"""The offline parts of `make e2e`: the loopback chart repository, the cluster's commands and
documents, reading objects back by discovery, and the e2e stacks themselves. (The run itself, with
the real binaries, is tests/real/test_e2e.py.)"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.types import ServiceType
from meshtools.charts import ChartSource
from meshtools.cli import ToolError
from meshtools.e2e import chart_repository, cluster, readback
from meshtools.stacks import load_stack, stack_names
from tests.support.modes import deployed
from tests.support.modes import remote as remote_signoz
from versions.table import CHARTS, ChartId

E2E_STACKS = Path(__file__).resolve().parent / "real" / "stacks"


def _chart_folder(root: Path, version: str) -> Path:
    chart = root / "demo"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: demo\n# a comment\nversion: {version}\nappVersion: 9.9\n")
    (chart / "templates" / "cm.yaml").write_text("kind: ConfigMap\n")
    return chart


def _members(data: bytes) -> dict[str, str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return {m.name: archive.extractfile(m).read().decode() for m in archive.getmembers() if m.isfile()}  # type: ignore[union-attr]


# --------------------------------------------------------------------------- chart repository


def test_a_source_of_another_version_is_packaged_under_the_pinned_one_and_named(tmp_path: Path) -> None:
    source = ChartSource(_chart_folder(tmp_path, "1.0.0"), "1.30.3", "demo 1.30.3 rendered for pinned 1.30.5 (mirror)")
    data, metadata, note = chart_repository.package(source, "demo", "1.30.5")
    members = _members(data)
    assert sorted(members) == ["demo/Chart.yaml", "demo/templates/cm.yaml"]
    assert "version: 1.30.5\n" in members["demo/Chart.yaml"] and "# a comment" in members["demo/Chart.yaml"]
    assert metadata["version"] == "1.30.5"
    assert note == (
        "demo 1.30.3 rendered for pinned 1.30.5 (mirror); "
        "demo: Chart.yaml of the 1.30.3 source says version 1.0.0; served as 1.30.5"
    )


def test_a_released_archive_is_served_as_it_is(tmp_path: Path) -> None:
    folder = _chart_folder(tmp_path, "2.29.0")
    archive = tmp_path / "demo-2.29.0.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="demo")
    data, metadata, note = chart_repository.package(ChartSource(archive, "2.29.0"), "demo", "2.29.0")
    assert _members(data)["demo/templates/cm.yaml"] == "kind: ConfigMap\n"
    assert (metadata["version"], note) == ("2.29.0", "")


def test_chart_yaml_without_a_version_is_refused() -> None:
    with pytest.raises(ToolError, match="no top-level `version:`"):
        chart_repository.with_version("apiVersion: v2\nname: x\n", "1.0.0")


def test_the_repository_lists_every_version_of_the_table_with_its_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Versions come from the version table, whatever it lists; an index entry points at its archive
    and carries the sha256 Helm checks."""
    mirror = tmp_path / "mirror"
    chart = CHARTS[ChartId.KIALI]
    for version in chart.versions:
        _chart_folder(mirror / chart.folder / version, version).rename(mirror / chart.folder / version / chart.name)
    monkeypatch.setenv("MESH_TRACING_CHART_MIRROR", str(mirror))
    served = tmp_path / "served"
    packaged = chart_repository.build(served, {ChartId.KIALI: chart.versions})
    index = yaml.safe_load((served / "index.yaml").read_text())
    entries = index["entries"][chart.name]
    assert [e["version"] for e in entries] == list(chart.versions)
    for entry, archive in zip(entries, packaged, strict=True):
        assert entry["urls"] == [f"{chart.name}-{entry['version']}.tgz"]
        assert entry["digest"] == archive.digest
        assert hashlib.sha256((served / entry["urls"][0]).read_bytes()).hexdigest() == entry["digest"]


def test_the_repository_is_served_on_loopback_and_stops(tmp_path: Path) -> None:
    (tmp_path / "index.yaml").write_text("apiVersion: v1\nentries: {}\n")
    with chart_repository.serve(tmp_path) as url:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{url}/index.yaml", timeout=10) as response:
            assert yaml.safe_load(response.read()) == {"apiVersion": "v1", "entries": {}}
    with pytest.raises(OSError), urllib.request.urlopen(f"{url}/index.yaml", timeout=2):
        pass


# --------------------------------------------------------------------------- the loopback cluster


BINARIES = cluster.Binaries(*(Path(f"/b/{n}") for n in ("etcd", "apiserver", "kcm", "scheduler", "kwok", "stages")))
LAYOUT = cluster.Layout(Path("/tmp/c"))
PORTS = cluster.Ports(2379, 2380, 6443, 10247)


def _flag(command: list[str], name: str) -> str:
    values = [part.split("=", 1)[1] for part in command if part.startswith(f"--{name}=")]
    assert len(values) == 1, f"--{name} given {len(values)} times"
    return values[0]


def test_every_listener_is_on_loopback() -> None:
    etcd = cluster.etcd_command(BINARIES, LAYOUT, PORTS)
    apiserver = cluster.apiserver_command(BINARIES, LAYOUT, PORTS)
    kwok = cluster.kwok_command(BINARIES, LAYOUT, PORTS)
    assert _flag(etcd, "listen-client-urls") == "http://127.0.0.1:2379"
    assert _flag(etcd, "listen-peer-urls") == "http://127.0.0.1:2380"
    assert _flag(apiserver, "bind-address") == "127.0.0.1" and _flag(apiserver, "secure-port") == "6443"
    assert _flag(kwok, "server-address") == "127.0.0.1:10247"
    for command in (cluster.controller_manager_command(BINARIES, LAYOUT), cluster.scheduler_command(BINARIES, LAYOUT)):
        assert _flag(command, "secure-port") == "0", "controllers serve nothing"


def test_admission_webhooks_are_off_and_nothing_else() -> None:
    """No istiod answers the sidecar injector or Istio's validation: the webhook plugins are off,
    built-in admission (CEL policies, default storage class, …) stays on."""
    apiserver = cluster.apiserver_command(BINARIES, LAYOUT, PORTS)
    assert _flag(apiserver, "disable-admission-plugins").split(",") == [
        "MutatingAdmissionWebhook",
        "ValidatingAdmissionWebhook",
    ]
    assert not any(part.startswith("--enable-admission-plugins") for part in apiserver)


def test_the_kubeconfig_names_its_own_context_and_trusts_the_servers_certificate() -> None:
    config = cluster.kubeconfig("e2e-x", "https://127.0.0.1:6443", "Q0E=", "t0ken")
    assert config["current-context"] == "e2e-x"
    [entry] = config["clusters"]
    assert entry["cluster"] == {"server": "https://127.0.0.1:6443", "certificate-authority-data": "Q0E="}
    [user] = config["users"]
    assert user["user"] == {"token": "t0ken"}


def test_the_fake_node_is_the_one_kwok_manages() -> None:
    node = cluster.fake_node()
    command = cluster.kwok_command(BINARIES, LAYOUT, PORTS)
    key, value = _flag(command, "manage-nodes-with-annotation-selector").split("=")
    assert node["metadata"]["annotations"][key] == value
    assert node["metadata"]["labels"]["kubernetes.io/os"] == "linux"


def _stage(kind: str, name: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "kwok.x-k8s.io/v1alpha1",
            "kind": "Stage",
            "metadata": {"name": name},
            "spec": {"resourceRef": {"apiGroup": "v1", "kind": kind}},
        }
    )


def test_kwok_gets_every_stage_and_the_cluster_the_other_objects(tmp_path: Path) -> None:
    (tmp_path / "pod" / "fast" / "testdata").mkdir(parents=True)
    (tmp_path / "volume").mkdir()
    (tmp_path / "pod" / "fast" / "pod-ready.yaml").write_text(_stage("Pod", "pod-ready"))
    (tmp_path / "pod" / "fast" / "kustomization.yaml").write_text("resources: [pod-ready.yaml]\n")
    (tmp_path / "pod" / "fast" / "testdata" / "x.yaml").write_text(_stage("Pod", "from-testdata"))
    (tmp_path / "volume" / "storage-class.yaml").write_text("apiVersion: storage.k8s.io/v1\nkind: StorageClass\n")
    stages, others = cluster.stage_documents(tmp_path)
    assert [s["metadata"]["name"] for s in stages] == ["pod-ready"]
    assert [o["kind"] for o in others] == ["StorageClass"]
    documents = list(yaml.safe_load_all(cluster.kwok_configuration(stages)))
    assert [d["kind"] for d in documents] == ["Stage"]


def test_kwok_without_pod_stages_is_refused(tmp_path: Path) -> None:
    (tmp_path / "node.yaml").write_text(_stage("Node", "node-initialize"))
    with pytest.raises(ToolError, match="no kwok pod stages"):
        cluster.stage_documents(tmp_path)


# --------------------------------------------------------------------------- reading back


DISCOVERY: dict[str, dict[str, Any]] = {
    "/api": {"versions": ["v1"]},
    "/apis": {"groups": [{"versions": [{"groupVersion": "telemetry.istio.io/v1"}]}]},
    "/api/v1": {
        "resources": [
            {"name": "namespaces", "kind": "Namespace", "namespaced": False},
            {"name": "secrets", "kind": "Secret", "namespaced": True},
            {"name": "namespaces/status", "kind": "Namespace", "namespaced": False},
        ]
    },
    "/apis/telemetry.istio.io/v1": {"resources": [{"name": "telemetries", "kind": "Telemetry", "namespaced": True}]},
}


def test_discovery_gives_each_kind_its_path() -> None:
    served = readback.discover(DISCOVERY.__getitem__)
    assert served["v1", "Namespace"].path("shop") == "/api/v1/namespaces/shop"
    assert served["telemetry.istio.io/v1", "Telemetry"].path("mesh", "istio-system") == (
        "/apis/telemetry.istio.io/v1/namespaces/istio-system/telemetries/mesh"
    )
    assert len(served) == 3, "subresources are not kinds of their own"


def test_missing_objects_names_unserved_kinds_and_absent_objects() -> None:
    served = readback.discover(DISCOVERY.__getitem__)
    present = {"/api/v1/namespaces/shop": {"kind": "Namespace"}}
    wanted = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "key", "namespace": "signoz"}},
        {"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "gw", "namespace": "x"}},
    ]
    assert readback.missing_objects(wanted, served, lambda path: present.get(path, {})) == [
        "Secret signoz/key (v1): not found",
        "Gateway x/gw (networking.istio.io/v1): the API server serves no networking.istio.io/v1 Gateway",
    ]


def test_a_helm_release_record_is_read_from_its_secret() -> None:
    release = {"name": "signoz", "info": {"status": "deployed"}, "chart": {"metadata": {"version": "0.131.0"}}}
    inner = base64.b64encode(gzip.compress(json.dumps(release).encode()))
    secret = {"data": {"release": base64.b64encode(inner).decode()}}
    assert readback.helm_release_record(secret) == release


# --------------------------------------------------------------------------- the e2e stacks


@pytest.mark.parametrize("name", stack_names(E2E_STACKS))
def test_e2e_stacks_are_valid_and_need_no_load_balancer(name: str) -> None:
    """Nothing assigns LoadBalancer addresses on a loopback cluster, and Helm's wait would never end."""
    settings = load_stack(name, E2E_STACKS).settings
    gateway = settings.istio.gateway
    assert not gateway.enabled or gateway.service_type is not ServiceType.LOAD_BALANCER
    assert settings.chart_repository is None, "the e2e run sets the loopback repository"


def test_the_e2e_stacks_are_a_remote_stack_and_its_central_ingest() -> None:
    central, remote = (load_stack(n, E2E_STACKS).settings for n in ("e2e-central", "e2e-remote"))
    ingest = deployed(central).ingest
    assert ingest is not None
    assert remote_signoz(remote).remote.endpoint == f"https://{ingest.host}"


def _with_dependencies(root: Path, values: str) -> Path:
    chart = _chart_folder(root, "0.131.0")
    dependencies = (
        "dependencies:\n- name: clickhouse\n  condition: clickhouse.enabled\n"
        "- name: redpanda\n  condition: redpanda.enabled\n"
    )
    (chart / "Chart.yaml").write_text((chart / "Chart.yaml").read_text() + dependencies)
    (chart / "charts" / "clickhouse").mkdir(parents=True)
    (chart / "charts" / "clickhouse" / "Chart.yaml").write_text("name: clickhouse\nversion: 1\n")
    (chart / "values.yaml").write_text(values)
    return chart


def test_a_switched_off_subchart_the_source_lacks_is_left_out_and_named(tmp_path: Path) -> None:
    """A chart's git tree lacks the subcharts `helm dependency build` fetches for the release; Helm
    refuses a chart listing one it does not hold, even switched off."""
    chart = _with_dependencies(tmp_path, "redpanda:\n  enabled: false\n")
    data, metadata, note = chart_repository.package(ChartSource(chart, "0.131.0"), "demo", "0.131.0")
    assert [d["name"] for d in metadata["dependencies"]] == ["clickhouse"]
    assert "demo/charts/clickhouse/Chart.yaml" in _members(data)
    assert note == "demo: subchart redpanda (redpanda.enabled: false) absent from the source; left out"


def test_a_missing_subchart_that_is_on_is_refused(tmp_path: Path) -> None:
    chart = _with_dependencies(tmp_path, "redpanda:\n  enabled: true\n")
    with pytest.raises(ToolError, match="subchart redpanda is not in the chart source and not switched off"):
        chart_repository.package(ChartSource(chart, "0.131.0"), "demo", "0.131.0")
