"""What a scenario test tells the report, stored on the pytest item as ``user_properties``.

``user_properties`` travel with every test report, from xdist workers to the controller and
into JUnit, so the report needs no side channel. Values are strings or numbers; structured ones
(the flow, evidence) are JSON text.

Use from a scenario test (``request.node`` is the item)::

    record.scenario(request.node, scenario)
    with record.phase(request.node, "apply"):
        ...
    record.evidence(request.node, Evidence("allowed", status=200, headers=(("x", "y"),)))
    record.diagnostics(request.node, path)
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from egress_e2e.core.errors import ConfigError
from egress_e2e.report.model import PHASES, Evidence, RunInfo
from egress_e2e.scenario.model import Scenario

# Property names; the three versions and the diagnostics path are the ones JUnit readers want.
ISTIO_VERSION = "istio_version"
KUBERNETES_VERSION = "kubernetes_version"
KIND_VERSION = "kind_version"
DIAGNOSTICS = "diagnostics"
SCENARIO_ID = "scenario_id"
SCENARIO_TITLE = "scenario_title"
FLOW = "scenario_flow"
EVIDENCE = "evidence"
PHASE_PREFIX = "phase_"
UPGRADE = "upgrade"
UPGRADE_PHASE = "upgrade_phase"


class HasUserProperties(Protocol):
    """A pytest item, or anything else carrying ``user_properties`` (tests use a stand-in)."""

    user_properties: list[tuple[str, object]]


def has(item: HasUserProperties, name: str) -> bool:
    return any(key == name for key, _ in item.user_properties)


def scenario(item: HasUserProperties, declared: Scenario) -> None:
    """Record which scenario this test runs: its id, title and the flow the report draws.

    Taking the ``Scenario`` object itself (not a copy of its fields) keeps the picture the one
    the test asserts. Recording twice is harmless.
    """
    if has(item, SCENARIO_ID):
        return
    item.user_properties.append((SCENARIO_ID, declared.id))
    item.user_properties.append((SCENARIO_TITLE, declared.title))
    item.user_properties.append((FLOW, json.dumps([asdict(hop) for hop in declared.flow])))


def phase_time(item: HasUserProperties, name: str, seconds: float) -> None:
    """Add ``seconds`` to phase ``name`` (a scenario with several steps applies several times)."""
    if name not in PHASES:
        raise ConfigError(f"unknown phase {name!r}; expected one of {', '.join(PHASES)}")
    item.user_properties.append((PHASE_PREFIX + name, round(seconds, 3)))


@contextlib.contextmanager
def phase(item: HasUserProperties, name: str) -> Iterator[None]:
    """Time the block as phase ``name``, also when it fails (a slow failing apply matters)."""
    started = time.monotonic()
    try:
        yield
    finally:
        phase_time(item, name, time.monotonic() - started)


def upgrade_phase(item: HasUserProperties, upgrade: str, phase: str) -> None:
    """This test is one phase (before, skew, after) of the upgrade ``upgrade``."""
    if not has(item, UPGRADE_PHASE):
        item.user_properties.append((UPGRADE, upgrade))
        item.user_properties.append((UPGRADE_PHASE, phase))


def evidence(item: HasUserProperties, seen: Evidence) -> None:
    item.user_properties.append((EVIDENCE, json.dumps(seen.to_dict(), sort_keys=True)))


def diagnostics(item: HasUserProperties, path: Path | str) -> None:
    """Where this scenario's diagnostics bundle went (set on failure)."""
    item.user_properties[:] = [(k, v) for k, v in item.user_properties if k != DIAGNOSTICS]
    item.user_properties.append((DIAGNOSTICS, str(path)))


def run_versions(properties: list[tuple[str, object]], run: RunInfo) -> None:
    """Add the run's versions to a report's properties unless already there (xdist and -n0
    share the list between reports, so adding twice must be a no-op)."""
    present = {key for key, _ in properties}
    for key, value in (
        (ISTIO_VERSION, run.istio_version),
        (KUBERNETES_VERSION, run.kubernetes_version),
        (KIND_VERSION, run.kind_version),
    ):
        if key not in present:
            properties.append((key, value))


def read(properties: list[tuple[str, Any]]) -> dict[str, Any]:
    """Fold recorded properties: phases summed, evidence listed, anything else last-wins."""
    phases: dict[str, float] = {}
    seen: list[Evidence] = []
    folded: dict[str, Any] = {}
    for key, value in properties:
        if key.startswith(PHASE_PREFIX):
            name = key.removeprefix(PHASE_PREFIX)
            phases[name] = phases.get(name, 0.0) + float(value)
        elif key == EVIDENCE:
            seen.append(Evidence.from_dict(json.loads(value)))
        else:
            folded[key] = value
    folded["phases"] = phases
    folded["evidence"] = seen
    return folded
