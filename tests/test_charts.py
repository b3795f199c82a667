"""Chart sources: a verified download from a repository's index, or a local mirror with version fallback."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshtools import charts
from meshtools.cli import ToolError
from tests.conftest import TEST_STACKS
from tests.support.fake_apiserver import FakeApiServer, Reply, Request, serve
from versions.table import CHARTS, ChartId, upstream_version

KIALI = CHARTS[ChartId.KIALI]


def archive(name: str, version: str) -> bytes:
    """A minimal chart archive, as `helm package` lays it out."""
    chart = yaml.safe_dump({"apiVersion": "v2", "name": name, "version": version}).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(f"{name}/Chart.yaml")
        info.size = len(chart)
        tar.addfile(info, io.BytesIO(chart))
    return buffer.getvalue()


def repository(api: FakeApiServer, data: bytes, digest: str, url: str) -> None:
    version = KIALI.default_version
    entry: dict[str, Any] = {"name": KIALI.name, "version": version, "digest": digest, "urls": [url]}
    api.routes[("GET", "/charts/index.yaml")] = (
        200,
        yaml.safe_dump({"apiVersion": "v1", "entries": {KIALI.name: [entry]}}).encode(),
    )
    api.routes[("GET", f"/charts/{KIALI.name}-{version}.tgz")] = (200, data)


def test_download_keeps_an_archive_whose_digest_matches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(charts.MIRROR_ENV, raising=False)
    data = archive(KIALI.name, KIALI.default_version)
    with serve(FakeApiServer()) as api:
        # A relative url, resolved against the repository as helm resolves it.
        repository(api, data, hashlib.sha256(data).hexdigest(), f"{KIALI.name}-{KIALI.default_version}.tgz")
        path = charts.download(ChartId.KIALI, KIALI.default_version, f"{api.url}/charts", cache=tmp_path)
    assert path.read_bytes() == data
    assert charts.locate(ChartId.KIALI, KIALI.default_version, mirror=None, cache=tmp_path).path == path


def test_download_refuses_an_archive_whose_digest_differs(tmp_path: Path) -> None:
    data = archive(KIALI.name, KIALI.default_version)
    with serve(FakeApiServer()) as api:
        repository(api, data, "0" * 64, f"{api.url}/charts/{KIALI.name}-{KIALI.default_version}.tgz")
        with pytest.raises(ToolError, match=r"does not match the index digest 0{64}; not kept"):
            charts.download(ChartId.KIALI, KIALI.default_version, f"{api.url}/charts", cache=tmp_path)
    assert not list(tmp_path.iterdir())


def test_an_unlisted_version_is_named(tmp_path: Path) -> None:
    with serve(FakeApiServer()) as api:
        repository(api, b"", "0" * 64, "x.tgz")
        with pytest.raises(ToolError, match=r"lists no kiali-server 9.9.9"):
            charts.download(ChartId.KIALI, "9.9.9", f"{api.url}/charts", cache=tmp_path)


def test_a_mirror_without_the_pinned_version_renders_its_upstream_version(tmp_path: Path) -> None:
    istiod = CHARTS[ChartId.ISTIOD]
    derived = upstream_version(ChartId.ISTIOD, istiod.default_version)
    assert derived != istiod.default_version, "the pinned Istio's release.yaml names the chart tree it is rendered from"
    (tmp_path / "istio" / derived / "istiod").mkdir(parents=True)
    found = charts.locate(ChartId.ISTIOD, istiod.default_version, mirror=tmp_path)
    assert (found.path, found.version) == (tmp_path / "istio" / derived / "istiod", derived)
    assert found.note == f"istiod {derived} rendered for pinned {istiod.default_version} (mirror)"
    (tmp_path / "kiali-server" / KIALI.default_version).mkdir(parents=True)
    (tmp_path / "kiali-server" / KIALI.default_version / f"kiali-server-{KIALI.default_version}.tgz").write_bytes(b"")
    assert charts.locate(ChartId.KIALI, KIALI.default_version, mirror=tmp_path).note == ""


def test_missing_charts_say_how_to_get_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(charts.MIRROR_ENV, raising=False)
    with pytest.raises(ToolError, match=r"run `make charts`.*or set MESH_TRACING_CHART_MIRROR"):
        charts.locate(ChartId.SIGNOZ, CHARTS[ChartId.SIGNOZ].default_version, cache=tmp_path)
    with pytest.raises(ToolError, match=r"the chart mirror .* has no signoz/"):
        charts.locate(ChartId.SIGNOZ, CHARTS[ChartId.SIGNOZ].default_version, mirror=tmp_path)
    monkeypatch.setenv(charts.MIRROR_ENV, str(tmp_path / "nope"))
    with pytest.raises(ToolError, match=r"MESH_TRACING_CHART_MIRROR=.*nope: not a directory"):
        charts.locate(ChartId.SIGNOZ, CHARTS[ChartId.SIGNOZ].default_version)


def test_an_unreachable_repository_points_at_the_mirror(tmp_path: Path) -> None:
    with pytest.raises(
        ToolError, match=r"cannot download http://127.0.0.1:9/index.yaml: .*point MESH_TRACING_CHART_MIRROR"
    ):
        charts.download(ChartId.KIALI, KIALI.default_version, "http://127.0.0.1:9", cache=tmp_path)


def oci_registry(api: FakeApiServer, data: bytes, digest: str) -> None:
    """A registry that holds kiali-server as Helm pushes charts, behind an anonymous bearer challenge."""
    version = KIALI.default_version
    manifest = {
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": "sha256:0", "size": 2},
        "layers": [{"mediaType": charts.HELM_CHART_LAYER, "digest": f"sha256:{digest}", "size": len(data)}],
    }

    def authenticated(body: Any) -> Callable[[Request], Reply]:
        def handler(request: Request) -> Reply:
            if request.headers.get("authorization") != "Bearer pull-token":
                challenge = f'Bearer realm="{api.url}/token",service="fake",scope="repository:charts/kiali-server:pull"'
                return (401, {"errors": [{"code": "UNAUTHORIZED"}]}, {"WWW-Authenticate": challenge})
            return (200, body)

        return handler

    api.routes[("GET", "/token")] = lambda request: (
        (200, {"token": "pull-token"})
        if request.query == {"service": "fake", "scope": "repository:charts/kiali-server:pull"}
        else (400, {})
    )
    api.routes[("GET", f"/v2/charts/{KIALI.name}/manifests/{version}")] = authenticated(manifest)
    api.routes[("GET", f"/v2/charts/{KIALI.name}/blobs/sha256:{digest}")] = authenticated(data)


def test_an_oci_chart_is_pulled_with_an_anonymous_token_and_its_digest_checked(tmp_path: Path) -> None:
    data = archive(KIALI.name, KIALI.default_version)
    with serve(FakeApiServer()) as api:
        oci_registry(api, data, hashlib.sha256(data).hexdigest())
        host = api.url.removeprefix("http://")
        path = charts.download_oci(ChartId.KIALI, KIALI.default_version, f"oci://{host}/charts", tmp_path, "http")
    assert path.read_bytes() == data


def test_an_oci_chart_whose_digest_differs_is_not_kept(tmp_path: Path) -> None:
    data = archive(KIALI.name, KIALI.default_version)
    with serve(FakeApiServer()) as api:
        oci_registry(api, data, "0" * 64)
        host = api.url.removeprefix("http://")
        with pytest.raises(ToolError, match=r"does not match the manifest's sha256:0{64}; not kept"):
            charts.download_oci(ChartId.KIALI, KIALI.default_version, f"oci://{host}/charts", tmp_path, "http")
    assert not list(tmp_path.iterdir())


def test_make_charts_takes_each_charts_repository_from_the_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    fetched: list[tuple[str, str]] = []

    def fake_fetch(chart: ChartId, version: str, repository: str, cache: Path = charts.CACHE) -> Path:
        fetched.append((chart.value, repository))
        return charts.CACHE / f"{chart.value}-{version}.tgz"

    monkeypatch.setattr(charts, "fetch", fake_fetch)
    assert charts.main(["--stack", "canary", "--stacks-dir", str(TEST_STACKS)]) == 0
    repositories = dict(fetched)
    assert repositories["istiod"] == repositories["istio-base"] == "oci://ghcr.io/istio/release/charts"
    assert repositories["signoz"] == "https://charts.signoz.io", "istio.chartRepository is Istio's alone"
