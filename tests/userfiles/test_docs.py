"""docs/scenarios.md says what the code does: its examples are the files under
examples/scenarios, byte for byte, and its table of layout variables names every variable a
resource template gets from the layout, and no other."""

from __future__ import annotations

import re
from pathlib import Path

from egress_e2e import catalog
from egress_e2e.rendering.layout import Layout

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "scenarios.md").read_text()
EXAMPLES = ROOT / "examples" / "scenarios"


def _blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC, flags=re.S)


def test_the_examples_in_the_doc_are_the_example_files() -> None:
    files = [EXAMPLES / "billing-gateway-http.yaml",
             *(EXAMPLES / "ledger-mtls-origination" / name for name in (
                 "scenario.yaml", "serviceentry.yaml", "gateway.yaml", "virtualservice.yaml",
                 "destinationrule-mtls.yaml"))]
    assert _blocks() == [path.read_text() for path in files]
    folder = {p.name for p in (EXAMPLES / "ledger-mtls-origination").iterdir()}
    assert folder == {path.name for path in files[1:]}


def test_the_variables_table_is_the_layouts_variables() -> None:
    table = DOC.split("| variable | seed layout |", 1)[1].split("\n\n", 1)[0]
    named = {name for row in table.splitlines()[2:]
             for name in re.findall(r"`([a-z_]+)`", row.split("|")[1])}
    scenario = catalog.ALL[0]
    for layout in (Layout.seed(scenario), Layout.isolated_for(scenario, "docs")):
        assert named == set(layout.variables())
