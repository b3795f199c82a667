"""`make scan`'s judgement, without checkov: the waiver file's shape, which failures are new, which
waivers are stale, and how a checkov report names objects. checkov itself runs in `make scan` (CI),
not here: it is large and slow, and the fast suite stays fast."""

from __future__ import annotations

import fnmatch
import functools
import re
from typing import Any

import pytest

from meshtools.cli import ToolError
from meshtools.manifests import Manifest
from meshtools.scan import (
    WAIVERS,
    Figures,
    Finding,
    Waiver,
    findings_of,
    judge,
    load_waivers,
    object_file,
    report_lines,
)
from meshtools.stacks import PROJECT_DIR
from tests.conftest import TEST_STACK_NAMES, stack_run
from tests.support.rendered import rendered_objects

DIGEST = Waiver("CKV_K8S_43", ("*",), "pinned by tag")
MIGRATOR = Waiver("CKV_K8S_20", ("Job */signoz-telemetrystore-migrator",), "the chart offers no value")
DEMO_ONLY = Waiver("CKV_K8S_23", ("StatefulSet signoz/signoz",), "hardenedPods off", ("tests/demo",))


def finding(stack: str, check: str, title: str) -> Finding:
    return Finding(stack, check, "a check", title)


# --------------------------------------------------------------------------- judging


def test_a_failure_no_waiver_covers_is_new() -> None:
    failures = [
        finding("prod", "CKV_K8S_43", "Deployment signoz/signoz-otel-collector"),
        finding("prod", "CKV_K8S_20", "Job signoz/signoz-telemetrystore-migrator"),
        finding("prod", "CKV_K8S_20", "StatefulSet signoz/signoz"),
    ]
    verdict = judge({"prod": 99}, {"prod": 700}, failures, [DIGEST, MIGRATOR])
    assert verdict.new == [failures[2]]
    assert verdict.stale == []
    assert verdict.figures == [Figures("prod", 99, 700, 3, 2)]
    assert not verdict.ok


def test_a_waiver_that_matches_nothing_is_stale() -> None:
    verdict = judge({"prod": 1}, {}, [finding("prod", "CKV_K8S_43", "Deployment a/b")], [DIGEST, MIGRATOR])
    assert verdict.stale == [MIGRATOR]
    assert not verdict.ok


def test_a_waiver_scoped_to_stacks_covers_only_them() -> None:
    hardened_gone = finding("prod", "CKV_K8S_23", "StatefulSet signoz/signoz")
    expected_off = finding("tests/demo", "CKV_K8S_23", "StatefulSet signoz/signoz")
    verdict = judge({"prod": 1, "tests/demo": 1}, {}, [hardened_gone, expected_off], [DEMO_ONLY])
    assert verdict.new == [hardened_gone], "a waiver for one stack never hides a regression in another"
    assert verdict.ok is False


def test_the_report_names_each_new_failure_and_stale_waiver() -> None:
    verdict = judge({"prod": 5}, {"prod": 9}, [finding("prod", "CKV_K8S_13", "Deployment x/y")], [MIGRATOR])
    assert report_lines(verdict, "3.3.30") == [
        "checkov 3.3.30, Kubernetes checks, over each stack's rendered objects (one object per file)",
        "  stack            objects  passed  failed  waived",
        "  prod                   5       9       1       0",
        "1 failure(s) no waiver covers (fix them, or waive them with a reason):",
        "  prod: CKV_K8S_13 Deployment x/y — a check",
        "1 waiver(s) no failure needs any more (remove them):",
        "  CKV_K8S_20 Job */signoz-telemetrystore-migrator (stacks *)",
    ]


# --------------------------------------------------------------------------- the report


def test_findings_name_objects_through_their_files() -> None:
    files = {"prod/0001-Deployment-signoz-x.yaml": ("prod", "Deployment signoz/x")}
    check = {"file_path": "/prod/0001-Deployment-signoz-x.yaml", "check_id": "CKV_K8S_13", "check_name": "Memory"}
    report: dict[str, Any] = {
        "check_type": "kubernetes",
        "results": {"passed_checks": [check, check], "failed_checks": [check]},
    }
    shapes: list[Any] = [report, [report]]
    for shape in shapes:  # one framework: an object; several: a list
        assert findings_of(shape, files) == (
            {"prod": 2},
            [Finding("prod", "CKV_K8S_13", "Memory", "Deployment signoz/x")],
        )


def test_each_object_gets_a_file_of_its_own() -> None:
    manifest = Manifest("origin", {"kind": "ClusterRole", "metadata": {"name": "a/b"}})
    assert object_file(7, manifest) == "0007-ClusterRole-_-a_b.yaml"


# --------------------------------------------------------------------------- the waiver file


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{}", "w.yaml: must be a list of {check, objects, reason} entries"),
        (
            "- {check: CKV_K8S_43, objects: ['*']}",
            "w.yaml: entry 0: must have the keys check, objects and reason (and may have stacks)",
        ),
        (
            "- {check: K8S_43, objects: ['*'], reason: pinned by tag}",
            "w.yaml: entry 0: check 'K8S_43' is not a checkov Kubernetes check id (CKV_K8S_<n>)",
        ),
        (
            "- {check: CKV_K8S_43, objects: [], reason: pinned by tag}",
            "w.yaml: entry 0: objects must be a non-empty list of patterns such as 'Deployment signoz/*'",
        ),
        (
            "- {check: CKV_K8S_43, objects: ['*'], reason: tags}",
            "w.yaml: entry 0: CKV_K8S_43 needs a reason (a sentence saying why it cannot pass)",
        ),
        (
            "- {check: CKV_K8S_43, objects: ['*'], reason: pinned by tag, stacks: prod}",
            "w.yaml: entry 0: stacks must be a non-empty list of patterns such as 'tests/demo'",
        ),
    ],
)
def test_a_malformed_waiver_is_named(text: str, message: str) -> None:
    with pytest.raises(ToolError) as raised:
        load_waivers(text, "w.yaml")
    assert str(raised.value) == message


def shipped_waivers() -> list[Waiver]:
    return load_waivers(WAIVERS.read_text())


@functools.cache
def titles() -> set[str]:
    return {m.title for stack in TEST_STACK_NAMES for m in rendered_objects(stack_run(stack))}


def test_every_waiver_has_a_reason_and_names_rendered_objects() -> None:
    """A fast stand-in for the scan's stale check: each pattern matches an object some test stack
    renders (the scan itself also requires a failure it covers)."""
    waivers = shipped_waivers()
    assert len(waivers) >= 20
    unmatched = [
        (w.check, pattern) for w in waivers for pattern in w.objects if not fnmatch.filter(sorted(titles()), pattern)
    ]
    assert unmatched == []


def test_nothing_in_production_hides_behind_a_test_stack_waiver() -> None:
    """The waivers of the pods' own hardening are scoped to the stack that turns it off."""
    hardening = {"CKV_K8S_20", "CKV_K8S_23", "CKV_K8S_28", "CKV_K8S_31", "CKV_K8S_37"}
    for waiver in shipped_waivers():
        if waiver.check in hardening and waiver.stacks == ("*",):
            assert all(re.search(r"migrator|otel-collector|clickhouse-operator|demo", p) for p in waiver.objects), (
                waiver
            )


# --------------------------------------------------------------------------- the tier and CI


def test_the_scan_tier_pins_the_checkov_it_declares() -> None:
    declared = (PROJECT_DIR / "requirements" / "scan.in").read_text()
    locked = (PROJECT_DIR / "requirements" / "scan.txt").read_text()
    [pin] = re.findall(r"^checkov==\S+", declared, re.M)
    assert pin == "checkov==3.3.30"
    assert re.search(rf"^{re.escape(pin)} \\$", locked, re.M), "run `make lock`"
    assert "--hash=sha256:" in locked


def test_ci_scans_after_the_tests() -> None:
    lines = [line.strip() for line in (PROJECT_DIR / ".ci" / "run").read_text().splitlines()]
    assert lines.index("make scan") > lines.index("make test")
