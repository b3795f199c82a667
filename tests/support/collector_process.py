"""A built collector running a config on loopback, for the data-path tests, and what it exported.

The process gets exactly the environment given (the container's, as the pod would), its config in
the test's folder, and its log in a file the failure messages quote. It counts as up when its
health_check extension answers; it is stopped when the test ends.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

START_TIMEOUT = 60.0  # seconds; the SigNoz collector starts in a few on an idle machine
EXPORT_TIMEOUT = 45.0


@dataclass
class RunningCollector:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@contextlib.contextmanager
def running(
    name: str, binary: Path, config_text: str, *, env: Mapping[str, str], folder: Path, health_port: int
) -> Iterator[RunningCollector]:
    config = folder / f"{name}.yaml"
    config.write_text(config_text)
    log = folder / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([str(binary), f"--config={config}"], env=dict(env), stdout=sink, stderr=sink)
    running = RunningCollector(name, process, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise AssertionError(f"the {name} collector exited ({process.returncode}):\n{running.log_text()}")
            with contextlib.suppress(OSError):
                if _get(f"http://127.0.0.1:{health_port}/") == 200:
                    break
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the {name} collector is not healthy after {START_TIMEOUT} s:\n{running.log_text()}"
                )
            time.sleep(0.2)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def post(url: str, data: bytes, headers: Mapping[str, str]) -> int:
    """The HTTP status of a POST (an error status is returned, not raised)."""
    request = urllib.request.Request(url, data=data, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _value(value: Mapping[str, Any]) -> Any:
    """An OTLP JSON AnyValue as a Python value (strings, ints as strings per protojson, …)."""
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        return int(value["intValue"])
    return value


def attributes(entries: list[Mapping[str, Any]] | None) -> dict[str, Any]:
    return {str(e["key"]): _value(e.get("value") or {}) for e in entries or []}


@dataclass(frozen=True)
class ExportedSpan:
    resource: dict[str, Any]
    span: dict[str, Any]

    @property
    def attributes(self) -> dict[str, Any]:
        return attributes(self.span.get("attributes"))


def exported_spans(path: Path) -> list[ExportedSpan]:
    """The spans a file exporter wrote (OTLP JSON, one export request per line)."""
    if not path.exists():
        return []
    spans: list[ExportedSpan] = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        for resource_spans in json.loads(line).get("resourceSpans") or []:
            resource = attributes(dig_resource(resource_spans))
            for scope in resource_spans.get("scopeSpans") or []:
                spans.extend(ExportedSpan(resource, span) for span in scope.get("spans") or [])
    return spans


def dig_resource(resource_spans: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list((resource_spans.get("resource") or {}).get("attributes") or [])


def wait_for(
    read: Callable[[], list[ExportedSpan]],
    done: Callable[[list[ExportedSpan]], bool],
    what: str,
    *logs: RunningCollector,
) -> list[ExportedSpan]:
    """What `read` returns once `done` holds for it (a failure quotes the collectors' logs)."""
    deadline = time.monotonic() + EXPORT_TIMEOUT
    while True:
        found = read()
        if done(found):
            return found
        if time.monotonic() > deadline:
            quoted = "\n".join(f"--- {c.name} log:\n{c.log_text()[-4000:]}" for c in logs)
            raise AssertionError(f"{what} not exported after {EXPORT_TIMEOUT} s (found {len(found)} spans)\n{quoted}")
        time.sleep(0.3)
