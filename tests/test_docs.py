"""The docs stay in step with the code, and stay a set of pages a reader can follow.

docs/configuration.md names every key of the models with its default and allowed values, and no key
the models lack; Pulumi.yaml's declarations match the models; the many-clusters example is what the
test stacks run; the README stays a short entry page that links every page of docs/; every link
between the pages resolves; and the pages speak only of the product and its users' machines.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from config.reading import SECRET_KEYS, is_encrypted
from config.stack import StackSettings, models_in
from config.types import CustomTag
from meshtools import yamlio

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
README_MAX_LINES = 250
# What a page must never say: the docs speak of the product and its users' machines only, never of
# a machine the project happened to be written on.
FORBIDDEN_PHRASES = ("shared/", "this machine", "this 2-core machine", "where this was built")


def doc_pages() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def prose_lines(text: str) -> Iterator[str]:
    """The lines of a markdown text outside fenced code blocks (a fence closes only with at least
    as many backticks as opened it, so a ```` block may hold ``` blocks)."""
    fence = ""
    for line in text.splitlines():
        ticks = re.match(r"^(`{3,})", line)
        if not fence:
            if ticks:
                fence = ticks.group(1)
                continue
            yield line
        elif ticks and len(ticks.group(1)) >= len(fence) and not line.strip("`").strip():
            fence = ""


# --------------------------------------------------------------------------- configuration reference


def model_fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, FieldInfo]]:
    """(dotted key path, field) of every key a stack may set, as the stack file spells it."""
    for name, field in model.model_fields.items():
        path = f"{prefix}{field.alias or name}"
        yield path, field
        # A settings union's keys are those of all its members (each documented with its mode).
        for nested in models_in(field.annotation):
            if nested is not CustomTag:  # tag shapes are documented as a whole
                yield from model_fields(nested, f"{path}.")


def _first_of_each(pairs: Iterator[tuple[str, FieldInfo]]) -> dict[str, FieldInfo]:
    """A key two members of a settings union share is described by the first, the default member
    (whose discriminating key is the one with a default)."""
    found: dict[str, FieldInfo] = {}
    for path, field in pairs:
        found.setdefault(path, field)
    return found


FIELDS = _first_of_each(model_fields(StackSettings))
SECRETS_SECTION = "Secrets"


@dataclass(frozen=True)
class Row:
    """One row of a reference table: the keys its first cell names (full paths) and its whole text."""

    section: str
    keys: tuple[str, ...]
    text: str


def reference_rows(text: str) -> list[Row]:
    """The key rows of every reference table. A section's heading names the object its table
    describes (`### `istio``, `### `tracedNamespaces[]` entries`); its rows' keys are relative to it."""
    rows: list[Row] = []
    section: str | None = None
    for line in prose_lines(text):
        heading = re.match(r"^#+ (.*)$", line)
        if heading:
            title = heading.group(1)
            named = re.match(r"`([^`:]+)`", title)
            if title == "Top-level keys":
                section = ""
            elif title == SECRETS_SECTION:
                section = SECRETS_SECTION
            elif named:
                section = named.group(1).removesuffix("[]")
            else:
                section = None
            continue
        if section is None or not line.startswith("| `"):
            continue
        first_cell = line[2:].split(" | ")[0]
        names = re.findall(r"`([^`]+)`", first_cell)
        prefix = f"{section}." if section and section != SECRETS_SECTION else ""
        rows.append(Row(section, tuple(prefix + name for name in names), line))
    return rows


ROWS = reference_rows(CONFIGURATION.read_text())
KEY_ROWS = [row for row in ROWS if row.section != SECRETS_SECTION]
SECRET_ROWS = [row for row in ROWS if row.section == SECRETS_SECTION]
DOCUMENTED = {key: row for row in KEY_ROWS for key in row.keys}
SECTIONS = {row.section for row in KEY_ROWS}


def _documented(path: str) -> bool:
    """A key has its own row, is an object whose keys have rows, or is named in the row of the
    object it belongs to (`{requests: {cpu, memory}}`) — a row of its own, not a whole section's."""
    if path in DOCUMENTED or any(key.startswith(f"{path}.") for key in DOCUMENTED):
        return True
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        owner = ".".join(parts[:cut])
        if owner in DOCUMENTED and owner not in SECTIONS:
            return re.search(rf"\b{re.escape(parts[-1])}\b", DOCUMENTED[owner].text) is not None
    return False


def test_the_reference_has_its_tables() -> None:
    """The parser finds the tables (so the checks below cannot pass on an empty reference)."""
    assert {"", "tracedNamespaces", "istio", "signoz", "signoz.remote", "kiali"} <= SECTIONS
    assert len(KEY_ROWS) >= 40 and len(SECRET_ROWS) == len(SECRET_KEYS)


def test_every_setting_is_in_the_configuration_reference() -> None:
    assert [path for path in FIELDS if not _documented(path)] == []


def test_the_configuration_reference_names_no_key_the_models_lack() -> None:
    assert [key for key in DOCUMENTED if key not in FIELDS] == []


def test_every_secret_is_documented() -> None:
    reference = CONFIGURATION.read_text()
    assert [key for key in SECRET_KEYS if f"`{key}`" not in reference] == []
    assert sorted(key for row in SECRET_ROWS for key in row.keys) == sorted(SECRET_KEYS)


def _shown(value: Any) -> str:
    """A default as a stack file writes it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list) and not value:
        return "{}" if isinstance(value, dict) else "[]"
    if isinstance(value, list):
        return f"[{', '.join(_shown(item) for item in value)}]"
    return str(value)


def allowed_values(annotation: object) -> list[object] | None:
    """The values an enum or Literal field allows, wherever the annotation nests them."""
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [member.value for member in annotation]
    if get_origin(annotation) is Literal:
        return list(get_args(annotation))
    for arg in get_args(annotation):
        found = allowed_values(arg)
        if found is not None:
            return found
    return None


@pytest.mark.parametrize("key", sorted(DOCUMENTED))
def test_the_reference_gives_each_keys_default_and_allowed_values(key: str) -> None:
    field, text = FIELDS.get(key), DOCUMENTED[key].text
    assert field is not None, f"{key} is not a key of the models"
    if field.is_required():
        assert "required" in text, f"{key}: the row does not say it is required"
    elif field.default is None:
        assert "unset" in text, f"{key}: the row does not say it is unset by default"
    elif not isinstance(field.default, BaseModel):
        assert f"`{_shown(field.default)}`" in text, f"{key}: the row lacks the default `{_shown(field.default)}`"
    missing = [value for value in allowed_values(field.annotation) or [] if f"`{value}`" not in text]
    assert missing == [], f"{key}: the row does not name the allowed values {missing}"


def test_pulumi_yaml_declarations_match_the_models() -> None:
    declared = yamlio.load((ROOT / "Pulumi.yaml").read_text())["config"]
    fields = {field.alias or name: field for name, field in StackSettings.model_fields.items()}
    for key, declaration in declared.items():
        assert key in fields, f"Pulumi.yaml declares {key}, which settings do not know"
        # Pulumi's project schema requires a type, one of these four (there is no number type).
        assert declaration.get("type") in {"string", "integer", "boolean", "array"}, key
        if "default" in declaration:
            default = fields[key].default
            assert declaration["default"] == getattr(default, "value", default), key
        else:
            assert fields[key].is_required(), f"{key} has a model default but no Pulumi.yaml default"


def test_every_yaml_file_parses() -> None:
    """The CLI, GitHub and Pulumi's policy runner all reject a file that is not valid YAML."""
    tracked = [
        p
        for p in ROOT.rglob("*.y*ml")
        if not any(part.startswith(".venv") for part in p.parts) and "state" not in p.parts
    ]
    assert {p.name for p in tracked} >= {"Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml", "PulumiPolicy.yaml"}
    for path in tracked:
        assert yamlio.load(path.read_text()) is not None, path


# --------------------------------------------------------------------------- many clusters


def _yaml_blocks(page: Path, section: str) -> list[str]:
    text = page.read_text()
    text = text[text.index(section) :]
    text = text[: text.index("\n## ", 1)]
    return re.findall(r"```yaml\n(.*?)```", text, re.S)


INGEST_KEY = "mesh-tracing:signozIngestKey"


def _without_secrets(config: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in config.items() if not is_encrypted(v)}


def test_the_many_clusters_example_is_what_the_test_stacks_run() -> None:
    """The page's two stack files are what the test stacks `prod` (ingest) and `remote` run, but for
    the ingest key, which the page has set with the CLI. Shipped stack files are a team's to edit, so
    nothing here ties them to the example."""
    central_text, remote_text = _yaml_blocks(DOCS / "many-clusters.md", "## The two stack files")
    central, remote = (yamlio.load(block)["config"] for block in (central_text, remote_text))
    stacks = ROOT / "tests" / "stacks"
    tested_remote = yamlio.load((stacks / "Pulumi.remote.yaml").read_text())["config"]
    assert set(remote) == set(_without_secrets(tested_remote))
    assert remote == _without_secrets(tested_remote) | {"kubernetes:context": remote["kubernetes:context"]}
    tested_prod = yamlio.load((stacks / "Pulumi.prod.yaml").read_text())["config"]
    assert central["mesh-tracing:signoz"] == {"ingest": tested_prod["mesh-tracing:signoz"]["ingest"]}
    # Both hold the ingest key as a secret, which the page has set with the CLI rather than written.
    assert is_encrypted(tested_prod[INGEST_KEY]) and is_encrypted(tested_remote[INGEST_KEY])
    assert INGEST_KEY not in central and INGEST_KEY not in remote
    assert f"# {INGEST_KEY} is added" in central_text and f"# {INGEST_KEY} is added" in remote_text
    assert [key for key, value in tested_remote.items() if is_encrypted(value)] == [INGEST_KEY]
    assert remote["mesh-tracing:signoz"]["remote"]["endpoint"] == (
        f"https://{tested_prod['mesh-tracing:signoz']['ingest']['host']}"
    ), "the remote stack sends to the central stack's ingest host"


# --------------------------------------------------------------------------- the pages as a whole


def test_the_readme_is_a_short_entry_page_that_links_every_page() -> None:
    """A page added to docs/ later must be linked from the README's table of contents."""
    text = README.read_text()
    assert len(text.splitlines()) < README_MAX_LINES
    targets = {target.split("#")[0] for target in re.findall(r"\]\(([^)\s]+)\)", text)}
    pages = {page.relative_to(ROOT).as_posix() for page in DOCS.rglob("*.md")}
    assert pages, "docs/ has pages"
    assert sorted(pages - targets) == []


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for line in prose_lines(page.read_text()):
        heading = re.match(r"^#+ (.*)$", line)
        if heading:
            anchor = github_anchor(heading.group(1))
            count = sum(1 for a in found if a == anchor or re.fullmatch(rf"{re.escape(anchor)}-\d+", a))
            found.add(f"{anchor}-{count}" if count else anchor)
    return found


def test_github_anchors_are_computed_as_github_does() -> None:
    assert github_anchor("`signoz.remote`") == "signozremote"
    assert github_anchor("ADR 9: The collector pipeline restates the chart's defaults") == (
        "adr-9-the-collector-pipeline-restates-the-charts-defaults"
    )
    assert github_anchor("Many clusters, one SigNoz — why") == "many-clusters-one-signoz--why"


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_between_the_pages_resolves(page: Path) -> None:
    broken = []
    for line in prose_lines(page.read_text()):
        for target in re.findall(r"\]\(([^)\s]+)\)", line):
            if re.match(r"^[a-z]+:", target):
                continue  # https:, mailto:
            path, _, fragment = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.is_file() or (fragment and fragment not in anchors(linked)):
                broken.append(target)
    assert broken == []


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_pages_speak_only_of_the_product(page: Path) -> None:
    text = page.read_text().lower()
    assert [phrase for phrase in FORBIDDEN_PHRASES if phrase in text] == []
