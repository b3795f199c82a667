"""The lock files match pyproject.toml, and the runtime lock holds everything the program imports.

`make check-runtime` proves the same in a real runtime-only virtualenv (slower; CI runs it); this
test catches a forgotten `make lock` or a new import on every run.
"""

from __future__ import annotations

import ast
import re
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
PROJECT_PACKAGES = (*PROGRAM_PACKAGES, "meshtools", "policy")


def _source(module: str) -> Path | None:
    path = PROJECT_DIR.joinpath(*module.split("."))
    return next((p for p in (path.with_suffix(".py"), path / "__init__.py") if p.is_file()), None)


def imported_closure(*roots: str) -> tuple[set[str], set[str]]:
    """The project modules `roots` import, directly or through each other, and the top-level
    packages outside the project and the standard library that any of them imports."""
    seen, outside, todo = set(), set(), list(roots)
    while todo:
        module = todo.pop()
        source = _source(module)
        if module in seen or source is None:
            continue
        seen.add(module)
        todo += [module.rsplit(".", depth)[0] for depth in range(1, module.count(".") + 1)]  # its packages run first
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in PROJECT_PACKAGES:
                    todo.append(name)
                elif top not in sys.stdlib_module_names and top != "__future__":
                    outside.add(top)
    return seen, outside


def test_the_rules_do_not_import_the_kubernetes_client() -> None:
    """Every module the rules reach imports only runtime packages, none of which is the Kubernetes
    client (the runtime lock holds no `kubernetes`, above), so the runtime tier can run the rules;
    `make check-runtime` imports them in a runtime-only virtualenv too."""
    modules, outside = imported_closure(*RULE_MODULES)
    assert "meshtools.verify.cluster" not in modules and "kubernetes" not in outside
    distributions, runtime = packages_distributions(), locked("runtime")
    assert {name for name in outside if not {_normal(d) for d in distributions.get(name, [])} & runtime} == set()


def test_the_closure_sees_the_client_where_it_is() -> None:
    """The walk above can fail: from verify's command line it reaches the client."""
    modules, outside = imported_closure("meshtools.verify.cli")
    assert {"meshtools.verify.cluster", "meshtools.datapath"} <= modules and "kubernetes" in outside
