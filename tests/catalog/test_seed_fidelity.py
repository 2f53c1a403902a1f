"""The seed layout is the seed: every pattern object catalog I renders in the seed layout equals
an object the seed text applies, except for the additions each scenario's ``differs`` names.

Reads the seed files where the project keeps them (``EGRESS_E2E_SEEDS`` or /work/shared/seeds);
where they are absent (a fresh clone) the check skips with that reason.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from egress_e2e import catalog
from egress_e2e.rendering.layout import Layout
from egress_e2e.rendering.render import plan
from egress_e2e.scenario.model import Scenario

SEEDS_DIR = Path(os.environ.get("EGRESS_E2E_SEEDS", "/work/shared/seeds"))

CATALOG_I = (
    "serviceentry-direct", "gateway-http", "gateway-tls-origination",
    "mtls-gateway-tls-origination", "mtls-gateway-http", "passthrough", "passthrough-double-tls",
    "http-and-passthrough-combined", "externalname", "ingress-gateway",
)
# Objects the seed only points at (a file in its repository), not text it shows.
NOT_IN_SEED_TEXT = {("ingress-gateway", "Service", "command-runner"),
                    ("ingress-gateway", "Deployment", "command-runner")}

_BLOCK = re.compile(r"```[a-z]*[ \t]*\n(.*?)```", re.DOTALL)
_SHELL = re.compile(r"^\s*(kubectl |cat <<|cat << |EOF\s*$)")


def seed_objects(seed_file: str) -> list[dict[str, Any]]:
    """Every Kubernetes object in the seed's code blocks (shell lines around them dropped)."""
    path = SEEDS_DIR / seed_file
    if not path.is_file():
        pytest.skip(f"seed text not available at {path}")
    objects: list[dict[str, Any]] = []
    for block in _BLOCK.findall(path.read_text(errors="replace")):
        if "kind:" not in block or "apiVersion:" not in block:
            continue
        text = "\n".join(line for line in block.splitlines() if not _SHELL.match(line))
        try:
            loaded = list(yaml.safe_load_all(text))
        except yaml.YAMLError:
            continue
        objects += [doc for doc in loaded if isinstance(doc, dict) and "kind" in doc]
    return objects


# Origination rules that add an explicit SNI, each saying why in its scenario's `differs`.
ADDS_SNI = {("passthrough-double-tls", "originate-tls-for-httpbin")}


def without_documented_additions(body: dict[str, Any], seed: dict[str, Any],
                                 scenario_id: str = "") -> dict[str, Any]:
    """The rendered object minus what the catalog adds on purpose (and says so in `differs`)."""
    mine = copy.deepcopy(body)
    adds_sni = (scenario_id, mine.get("metadata", {}).get("name")) in ADDS_SNI
    if "namespace" not in seed.get("metadata", {}):
        # Templates always name the namespace; the seed applies into kubectl's (default).
        mine["metadata"].pop("namespace", None)
    policy = mine.get("spec", {}).get("trafficPolicy", {})
    for setting in policy.get("portLevelSettings", []):
        # Trust for the per-run fake CA.
        setting.get("tls", {}).pop("credentialName", None)
        if adds_sni:
            setting.get("tls", {}).pop("sni", None)
    return mine


@pytest.mark.parametrize("scenario_id", CATALOG_I)
def test_seed_layout_objects_are_the_seeds(scenario_id: str) -> None:
    scenario: Scenario = catalog.by_id(scenario_id)
    candidates = [obj for seed in scenario.seeds for obj in seed_objects(seed.file)]
    p = plan(scenario, Layout.seed(scenario))
    compared = 0
    for step in p.steps:
        for doc in step.apply:
            if (scenario_id, doc.kind, doc.name) in NOT_IN_SEED_TEXT:
                continue
            same_name = [c for c in candidates if c.get("kind") == doc.kind
                         and c.get("metadata", {}).get("name") == doc.name]
            assert same_name, f"{doc.ref}: the seed applies no {doc.kind} named {doc.name}"
            assert any(without_documented_additions(doc.body, c, scenario_id) == c
                       for c in same_name), (
                f"{doc.ref} differs from every {doc.kind}/{doc.name} in the seed")
            compared += 1
    assert compared == len({d.ref for s in p.steps for d in s.apply}) - len(
        [k for k in NOT_IN_SEED_TEXT if k[0] == scenario_id])


def test_origination_rules_say_why_they_add_credential_name() -> None:
    for scenario in catalog.ALL:
        if scenario.id not in CATALOG_I:
            continue
        adds = any("credentialName" in str(doc.body)
                   for doc in plan(scenario, Layout.seed(scenario)).documents
                   if doc.kind == "DestinationRule")
        if adds:
            assert any("credentialName" in line for line in scenario.differs), scenario.id
