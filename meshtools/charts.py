"""Where the pinned charts come from for offline rendering: a local mirror or a verified cache.

- MESH_TRACING_CHART_MIRROR points at a folder laid out `<folder>/<version>/<chart>` (a chart
  directory or `<chart>-<version>.tgz`), e.g. an air-gapped site's copy of the upstream charts.
- Otherwise `make charts` downloads each pinned chart from its repository into .charts/ (git-ignored):
  from a Helm repository, checking every archive against the sha256 digest in its index.yaml; from an
  OCI registry (`oci://…`), against the digest its manifest names. The repository of each chart is
  the one a stack would install it from (`StackSettings.repository_of`).

Where a mirror holds the upstream release a version's `release.yaml` names instead of the pinned one
(Istio's 1.31.0-rc.0 tree for 1.31.4), that release is rendered and the substitution reported.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from meshtools.cli import EXIT_OK, ToolError, run_command
from meshtools.stacks import PROJECT_DIR, load_stack
from versions.table import CHARTS, ChartId, upstream_version

MIRROR_ENV = "MESH_TRACING_CHART_MIRROR"
CACHE = PROJECT_DIR / ".charts"


@dataclass(frozen=True)
class ChartSource:
    path: Path
    version: str  # the version at `path`; differs from the pinned one when the mirror lacks it
    note: str = ""


def _in_folder(folder: Path, name: str, version: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}-{version}.tgz"):
        if candidate.exists():
            return candidate
    return None


def locate(chart: ChartId, version: str, mirror: Path | None = None, cache: Path = CACHE) -> ChartSource:
    """The chart to render for `chart` at the pinned `version`."""
    pinned = CHARTS[chart]
    mirror = mirror if mirror is not None else _mirror_from_env()
    if mirror is not None:
        for candidate in dict.fromkeys((version, upstream_version(chart, version))):
            found = _in_folder(mirror / pinned.folder / candidate, pinned.name, candidate)
            if found is not None:
                note = (
                    "" if candidate == version else f"{pinned.name} {candidate} rendered for pinned {version} (mirror)"
                )
                return ChartSource(found, candidate, note)
        tried = " nor ".join(
            f"{pinned.folder}/{v}/{pinned.name}" for v in dict.fromkeys((version, upstream_version(chart, version)))
        )
        raise ToolError(f"the chart mirror {mirror} ({MIRROR_ENV}) has no {tried}")
    cached = cache / f"{pinned.name}-{version}.tgz"
    if cached.exists():
        return ChartSource(cached, version)
    raise ToolError(
        f"chart {pinned.name} {version} is not available offline: run `make charts` (downloads and verifies "
        f"it into {cache}) or set {MIRROR_ENV} to a local chart mirror"
    )


def _mirror_from_env() -> Path | None:
    value = os.environ.get(MIRROR_ENV)
    if not value:
        return None
    mirror = Path(value).expanduser().resolve()
    if not mirror.is_dir():
        raise ToolError(f"{MIRROR_ENV}={value}: not a directory")
    return mirror


# --------------------------------------------------------------------------- make charts


def _get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data: bytes = response.read()
            return data
    except (urllib.error.URLError, OSError) as error:
        raise ToolError(
            f"cannot download {url}: {error}. Without access to the chart repositories, point "
            f"{MIRROR_ENV} at a local chart mirror instead (docs/ci.md: Charts and the rendering engine)"
        ) from None


def index_entry(repository: str, name: str, version: str) -> dict[str, Any]:
    """The index.yaml entry of one chart version (its `digest` and `urls`)."""
    index = yaml.safe_load(_get(f"{repository.rstrip('/')}/index.yaml")) or {}
    for entry in (index.get("entries") or {}).get(name) or []:
        if str(entry.get("version")) == version:
            return dict(entry)
    raise ToolError(f"{repository} lists no {name} {version}")


def download(chart: ChartId, version: str, repository: str, cache: Path = CACHE) -> Path:
    """Fetch one archive into the cache, keeping it only when its sha256 equals the index digest."""
    name = CHARTS[chart].name
    entry = index_entry(repository, name, version)
    digest, urls = str(entry.get("digest", "")), entry.get("urls") or []
    if not digest or not urls:
        raise ToolError(f"{repository}: the index entry of {name} {version} has no digest or url")
    # Relative urls resolve against the repository, as helm resolves them.
    url = urllib.parse.urljoin(repository.rstrip("/") + "/", str(urls[0]))
    data = _get(url)
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest.removeprefix("sha256:"):
        raise ToolError(f"{url}: sha256 {actual} does not match the index digest {digest}; not kept")
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"{name}-{version}.tgz"
    target.write_bytes(data)
    return target


# --------------------------------------------------------------------------- OCI registries

# The media type of a Helm chart's content layer in an OCI artifact (helm.sh/helm/v3 pkg/registry).
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


def _registry_get(url: str, accept: str, token: str | None) -> tuple[int, bytes, str]:
    """GET with the registry's bearer token: (status, body, WWW-Authenticate of a 401)."""
    headers = {"Accept": accept, **({"Authorization": f"Bearer {token}"} if token else {})}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as response:
            return response.status, response.read(), ""
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("WWW-Authenticate", "")
    except (urllib.error.URLError, OSError) as error:
        raise ToolError(f"cannot download {url}: {error}") from None


def _anonymous_token(challenge: str) -> str:
    """A pull token from the registry's token service, as `docker pull` gets one without credentials
    (the distribution spec's bearer challenge: realm, service, scope)."""
    fields = dict(_CHALLENGE.findall(challenge))
    if not challenge.lower().startswith("bearer") or "realm" not in fields:
        raise ToolError(f"the registry asks for credentials ({challenge or 'no challenge'}); log in is not supported")
    query = urllib.parse.urlencode({k: v for k, v in fields.items() if k in {"service", "scope"}})
    status, body, _ = _registry_get(f"{fields['realm']}?{query}", "application/json", None)
    if status != 200:
        raise ToolError(f"{fields['realm']}: no anonymous pull token (HTTP {status})")
    answer = json.loads(body)
    return str(answer.get("token") or answer.get("access_token") or "")


def _registry_read(url: str, accept: str, token: str | None) -> tuple[bytes, str | None]:
    status, body, challenge = _registry_get(url, accept, token)
    if status == 401 and token is None:
        token = _anonymous_token(challenge)
        status, body, challenge = _registry_get(url, accept, token)
    if status != 200:
        raise ToolError(f"{url}: HTTP {status} {body[:200].decode(errors='replace')}")
    return body, token


def download_oci(chart: ChartId, version: str, repository: str, cache: Path = CACHE, scheme: str = "https") -> Path:
    """Fetch one chart from an OCI registry (`oci://host/path` holds `<path>/<chart>:<version>`), keeping
    it only when its sha256 equals the digest its manifest names, as `helm pull oci://…` checks it."""
    name = CHARTS[chart].name
    host, _, path = repository.removeprefix("oci://").partition("/")
    base = f"{scheme}://{host}/v2/{path.strip('/') + '/' if path.strip('/') else ''}{name}"
    manifest, token = _registry_read(f"{base}/manifests/{version}", OCI_MANIFEST, None)
    layers = [layer for layer in json.loads(manifest).get("layers") or [] if layer.get("mediaType") == HELM_CHART_LAYER]
    if len(layers) != 1:
        raise ToolError(f"{repository}/{name}:{version} is not a Helm chart (no {HELM_CHART_LAYER} layer)")
    digest = str(layers[0]["digest"])
    data, _ = _registry_read(f"{base}/blobs/{digest}", HELM_CHART_LAYER, token)
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest.removeprefix("sha256:"):
        raise ToolError(
            f"{repository}/{name}:{version}: sha256 {actual} does not match the manifest's {digest}; not kept"
        )
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"{name}-{version}.tgz"
    target.write_bytes(data)
    return target


def fetch(chart: ChartId, version: str, repository: str, cache: Path = CACHE) -> Path:
    """One chart from a Helm repository (https://, http://) or an OCI registry (oci://), verified."""
    if repository.startswith("oci://"):
        return download_oci(chart, version, repository, cache)
    return download(chart, version, repository, cache)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make charts", description=__doc__)
    parser.add_argument(
        "--stack", help="take the repositories this stack sets (chartRepository, istio.chartRepository)"
    )
    parser.add_argument("--stacks-dir", type=Path, default=PROJECT_DIR)
    args = parser.parse_args(argv)
    settings = load_stack(args.stack, args.stacks_dir).settings if args.stack else None
    for chart_id, chart in CHARTS.items():
        repository = settings.repository_of(chart_id) if settings else chart.repository
        for version in chart.versions:
            path = fetch(chart_id, version, repository)
            print(f"{chart.name} {version}: verified, {path.relative_to(PROJECT_DIR)} (from {repository})")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(run_command(main))
