"""The schema bundles are what versions.toml's [schemas] table pins: each header names the
pinned repository, ref, commit and source sha256 values, and each bundle's own sha256 is the
pinned one, so a hand edit or a regeneration from other sources fails here. Where the upstream
git mirrors are on this machine, the sources are re-hashed and the bundles rebuilt from them
byte for byte."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from egress_e2e.infra import versions
from egress_e2e.rendering import schemas

REPO = Path(__file__).resolve().parents[2]
MIRROR = Path("/work/.mirror")
PINS: dict[str, Any] = tomllib.loads((REPO / "versions.toml").read_text())["schemas"]
SHIPPED = sorted(path.stem for path in (REPO / "egress_e2e/rendering/schemas").glob("*.json"))


def test_every_shipped_bundle_is_pinned_and_every_pin_shipped() -> None:
    assert sorted(PINS) == SHIPPED
    used = {name for pair in schemas.BUNDLES_FOR_MINOR.values() for name in pair}
    assert used == set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_bundle_bytes_and_header_match_the_pins(name: str) -> None:
    raw = schemas.bundle_text(name)
    pin = PINS[name]
    assert hashlib.sha256(raw).hexdigest() == pin["bundle"], \
        f"{name}.json differs from its pin: regenerate it with tools/build_schema_bundle.py"
    header = json.loads(raw)
    assert header["bundle"] == name
    assert {s["path"]: s["sha256"] for s in header["sources"]} == pin["sources"]
    assert {(s["repository"], s["ref"], s["commit"]) for s in header["sources"]} == \
        {(pin["repository"], pin["ref"], pin["commit"])}


def test_no_upstream_prose_in_the_bundles() -> None:
    def descriptions(node: Any, inside_properties: bool = False) -> int:
        if isinstance(node, dict):
            here = int("description" in node and not inside_properties)
            return here + sum(descriptions(value, key == "properties")
                              for key, value in node.items())
        if isinstance(node, list):
            return sum(descriptions(value) for value in node)
        return 0

    for name in SHIPPED:
        assert descriptions(json.loads(schemas.bundle_text(name))["schemas"]) == 0, name


def test_every_supported_istio_minor_has_bundles() -> None:
    minors = {release.minor for release in versions.load().releases.values()}
    assert minors == set(schemas.BUNDLES_FOR_MINOR)
    assert schemas.minor_of(versions.load().default_istio) == "1.31"


@pytest.mark.skipif(not MIRROR.is_dir(), reason="no upstream git mirrors on this machine")
def test_the_generator_rebuilds_the_shipped_bundles_from_the_mirrors(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import build_schema_bundle as tool
    finally:
        sys.path.remove(str(REPO / "tools"))
    for name, folder, repository, ref, where in tool.MIRROR_BUNDLES:
        sources = tool.mirror_sources(MIRROR / folder / "repo", repository, ref, where,
                                      PINS[name]["commit"])
        for source in sources:
            assert hashlib.sha256(source.data).hexdigest() == PINS[name]["sources"][source.path]
        assert tool.build(name, sources) == schemas.bundle_text(name), name


def test_the_generator_fails_in_one_line_on_bad_input(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("kind: ConfigMap\n")
    done = subprocess.run(
        [sys.executable, str(REPO / "tools/build_schema_bundle.py"), "--name", "x", "--out",
         str(tmp_path / "x.json"), str(empty)], capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert done.stderr == "build_schema_bundle: x: no CustomResourceDefinition in the sources\n"
