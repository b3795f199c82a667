"""The lock files match pyproject.toml, and the runtime lock holds everything the program imports.

`make check-runtime` proves the same in a real runtime-only virtualenv (slower; CI runs it); this
test catches a forgotten `make lock` or a new import on every run.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from meshtools.stacks import PROJECT_DIR
from program import PROGRAM_PACKAGES

LOCKS = PROJECT_DIR / "requirements"
_PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", re.M)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(tier: str) -> set[str]:
    return {_normal(name) for name in _PINNED.findall((LOCKS / f"{tier}.txt").read_text())}


def declared() -> dict[str, set[str]]:
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]
    name = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")

    def names(requirements: list[str]) -> set[str]:
        return {_normal(m.group(1)) for r in requirements if (m := name.match(r))}

    tiers = {"runtime": names(project["dependencies"])}
    for extra, requirements in project["optional-dependencies"].items():
        tiers[extra] = tiers["runtime"] | names(requirements)
    return tiers


@pytest.mark.parametrize("tier", ["runtime", "tools", "dev"])
def test_each_lock_file_pins_what_pyproject_declares(tier: str) -> None:
    missing = declared()[tier] - locked(tier)
    assert not missing, f"requirements/{tier}.txt lacks {sorted(missing)}: run `make lock`"


def test_the_runtime_lock_holds_no_test_or_lint_tool() -> None:
    assert locked("runtime").isdisjoint({"pytest", "hypothesis", "mypy", "ruff", "chdb", "kubernetes"})
    assert locked("runtime") <= locked("tools") <= locked("dev")


# The program's own packages: its pins, its config, its platform knowledge, its components, its shell.


def _imports(path: Path) -> set[str]:
    """The top-level packages a module imports (absolute imports only)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def _third_party_imports(path: Path) -> set[str]:
    return _imports(path) - set(sys.stdlib_module_names) - {*PROGRAM_PACKAGES, "policy", "__future__"}


def test_the_program_and_the_policy_pack_import_only_runtime_packages() -> None:
    sources = [
        PROJECT_DIR / "__main__.py",
        *(path for package in PROGRAM_PACKAGES for path in (PROJECT_DIR / package).glob("*.py")),
        *(PROJECT_DIR / "policy").glob("*.py"),
    ]
    imports = set().union(*(_third_party_imports(p) for p in sources))
    distributions = packages_distributions()
    runtime = locked("runtime")
    outside = {
        name: dists
        for name in sorted(imports)
        if not (dists := {_normal(d) for d in distributions.get(name, [])}) & runtime
    }
    assert imports and not outside, f"imported by the program or the policy pack but not in the runtime lock: {outside}"


@pytest.mark.parametrize("package", PROGRAM_PACKAGES)
def test_each_layer_imports_only_the_layers_below_it(package: str) -> None:
    """PROGRAM_PACKAGES lists the layers bottom up (versions, config, kube, components, program): an
    import of a layer above would tie a lower one to what it should not know."""
    allowed = set(PROGRAM_PACKAGES[: PROGRAM_PACKAGES.index(package) + 1])
    upward = {
        str(path.relative_to(PROJECT_DIR)): sorted(found - allowed)
        for path in (PROJECT_DIR / package).glob("*.py")
        if (found := _imports(path) & set(PROGRAM_PACKAGES)) - allowed
    }
    assert not upward, f"{package}/ imports a layer above it: {upward}"


# The modules of the post-deploy rules, which the tests run on rendered stacks and `make verify` on
# the cluster: only meshtools/verify/cluster.py may import the Kubernetes client.
RULE_MODULES = ("meshtools.clusterview", "meshtools.postdeploy", "meshtools.datapath")


def test_the_rules_do_not_import_the_kubernetes_client() -> None:
    """In a fresh interpreter, so an import made by any module on the way counts (a transitive one
    too); then the live cluster module, which does import it, shows that the probe can fail."""
    probe = (
        "import importlib, sys\n"
        "client = {'kubernetes', 'urllib3', 'websocket'}\n"
        f"for name in {RULE_MODULES!r}: importlib.import_module(name)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & client))\n"
        "importlib.import_module('meshtools.verify.cluster')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & client))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_DIR, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert found[0] == "[]", f"the rules import {found[0]}: keep the client in meshtools/verify/cluster.py"
    assert found[1] == "['kubernetes', 'urllib3', 'websocket']", "the probe sees the client where it is"
