"""The scenario file's JSON Schema: generated from the file dataclasses, committed as generated,
and what editors (and check-jsonschema) validate files with."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest

from egress_e2e.catalog.files import model
from egress_e2e.scenario import expectations
from egress_e2e.scenario.model import DATA_PLANES

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / model.SCHEMA_FILE
EXAMPLES = ROOT / "examples" / "scenarios"


def test_the_committed_schema_is_the_generated_one() -> None:
    assert COMMITTED.read_text() == model.schema_text(), (
        "schemas/scenario-file.schema.json is stale: python -m egress_e2e.catalog.files.model "
        "> schemas/scenario-file.schema.json")


def test_the_module_prints_the_schema() -> None:
    out = subprocess.run([sys.executable, "-m", "egress_e2e.catalog.files.model"],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert json.loads(out) == model.schema()


def _properties(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(name, prop_name, prop) for name, definition in
            [("ScenarioFile", schema), *schema["$defs"].items()]
            for prop_name, prop in definition.get("properties", {}).items()
            if name != "Expectation"]


def test_every_field_says_what_it_does() -> None:
    """The file's own fields and the scenario model's each have a description (model.DOCS);
    every class has one (DOCS or its docstring). Fields of classes added to the model later
    (expectations, status checks) are described where DOCS says so, and usable before."""
    schema = model.schema()
    own = {"ScenarioFile", "Resource", "ExternalHost", "Hop", "Step", "Check", "Curl",
           "SeedNames"}
    undocumented = [f"{owner}.{name}" for owner, name, prop in _properties(schema)
                    if not prop.get("description") and owner in own]
    assert undocumented == []
    assert [name for name, definition in schema["$defs"].items()
            if not definition.get("description")] == []


def test_the_schema_follows_the_dataclasses() -> None:
    """Generated, not written: a field added to a model class appears, required where it has
    no default; the expectation vocabulary is the catalog's classes, by name."""
    schema = model.schema()
    expectation = schema["$defs"]["Expectation"]
    assert expectation["propertyNames"]["enum"] == sorted(model.EXPECTATIONS)
    assert set(model.EXPECTATIONS) == {cls.__name__ for cls in
                                       typing.get_args(expectations.Expectation)}
    for name, cls in model.EXPECTATIONS.items():
        definition = schema["$defs"][name]
        assert list(definition["properties"]) == [f.name for f in dataclasses.fields(cls)]
        assert definition.get("required", []) == [
            f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
        assert definition["additionalProperties"] is False
    assert schema["properties"]["data_planes"]["items"]["enum"] == list(DATA_PLANES)
    assert schema["required"] == ["id", "title", "flow", "resources", "steps"]

    @dataclasses.dataclass(frozen=True)
    class Extra:
        count: int
        label: str | None = None
        kinds: tuple[model.HostKind, ...] = ()

    defs: dict[str, Any] = {}
    assert model._object_schema(Extra, defs) == {
        "type": "object",
        "properties": {"count": {"type": "integer"},
                       "label": {"type": ["string", "null"], "default": None},
                       "kinds": {"type": "array", "items": {"enum": ["http", "tls", "mtls"]},
                                 "default": []}},
        "required": ["count"], "additionalProperties": False}


@pytest.mark.parametrize("example", ["billing-gateway-http.yaml",
                                     "ledger-mtls-origination/scenario.yaml"])
def test_check_jsonschema_accepts_the_examples_with_the_committed_schema(example: str) -> None:
    done = subprocess.run([str(Path(sys.executable).parent / "check-jsonschema"),
                           "--schemafile", str(COMMITTED), str(EXAMPLES / example)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_check_jsonschema_refuses_a_misspelt_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((EXAMPLES / "billing-gateway-http.yaml").read_text()
                   .replace("mirrors:", "mirorrs:"))
    done = subprocess.run([str(Path(sys.executable).parent / "check-jsonschema"),
                           "--schemafile", str(COMMITTED), str(bad)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "mirorrs" in done.stdout + done.stderr


def test_the_files_enums_are_the_harness_own() -> None:
    """The format spells client roles and host kinds as literals (catalog.files may not import
    rendering or fakes): they must stay the roles the base templates deploy and the kinds the
    fake internet answers."""
    from egress_e2e.fakes import declared
    from egress_e2e.rendering.layout import CLIENT_PODS

    assert set(typing.get_args(model.ClientRole)) == set(CLIENT_PODS)
    assert typing.get_args(model.HostKind) == typing.get_args(declared.HostKind)
    assert [f.name for f in dataclasses.fields(declared.DeclaredHosts)] == list(
        typing.get_args(model.HostKind))
