"""The README's configuration reference and Pulumi.yaml's declarations stay in step with the models."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import yaml
from pydantic import BaseModel

from components.models import StackSettings
from components.models import first_model as _first_model
from components.settings import SECRET_KEYS, is_encrypted

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
REFERENCE = README[README.index("## Configuration reference") : README.index("## Traced namespaces and existing pods")]


def field_paths(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, field in model.model_fields.items():
        path = f"{prefix}{field.alias or name}"
        yield path
        nested = _first_model(field.annotation)
        if nested is not None and nested.__name__ != "CustomTag":  # tag shapes are documented as a whole
            yield from field_paths(nested, f"{path}.")


def test_every_setting_is_in_the_configuration_reference() -> None:
    missing = [
        path
        for path in field_paths(StackSettings)
        if not re.search(rf"\b{re.escape(path.rsplit('.', 1)[-1])}\b", REFERENCE)
    ]
    assert missing == []


def test_every_secret_is_documented() -> None:
    assert [key for key in SECRET_KEYS if f"`{key}`" not in REFERENCE] == []


def test_pulumi_yaml_declarations_match_the_models() -> None:
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
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
        assert yaml.safe_load(path.read_text()) is not None, path


def _config_blocks(section: str) -> list[dict[str, object]]:
    text = README[README.index(section) :]
    text = text[: text.index("\n## ", 1)]
    return [yaml.safe_load(block)["config"] for block in re.findall(r"```yaml\n(.*?)```", text, re.S)]


def _without_secrets(config: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in config.items() if not is_encrypted(v)}


def test_the_many_clusters_example_is_what_the_test_stacks_run() -> None:
    """README's two stack files are what the test stacks `prod` (ingest) and `remote` run. Shipped
    stack files are a team's to edit, so nothing here ties them to the example."""
    central, remote = _config_blocks("## One SigNoz for many clusters")
    stacks = ROOT / "tests" / "stacks"
    tested_remote = yaml.safe_load((stacks / "Pulumi.remote.yaml").read_text())["config"]
    assert set(remote) == set(tested_remote)
    assert _without_secrets(remote) == _without_secrets(tested_remote) | {
        "kubernetes:context": remote["kubernetes:context"]
    }
    tested_prod = yaml.safe_load((stacks / "Pulumi.prod.yaml").read_text())["config"]
    assert central["mesh-tracing:signoz"] == {"ingest": tested_prod["mesh-tracing:signoz"]["ingest"]}
    assert "mesh-tracing:signozIngestKey" in central and "mesh-tracing:signozIngestKey" in tested_prod
    assert remote["mesh-tracing:signoz"]["remote"]["endpoint"] == (  # type: ignore[index]
        f"https://{tested_prod['mesh-tracing:signoz']['ingest']['host']}"
    ), "the remote stack sends to the central stack's ingest host"
