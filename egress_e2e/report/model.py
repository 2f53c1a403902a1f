"""What a run leaves behind, as plain data: one result per scenario and Istio version.

A ``ResultSet`` is written as ``results.json`` at the end of a run and is all the HTML report,
the JUnit file and the terminal summary read, so any of them can be rebuilt (or merged across
the nightly's Istio versions) from recorded results without a cluster.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from egress_e2e.core.errors import ConfigError
from egress_e2e.infra.versions import parse_version
from egress_e2e.scenario.model import Hop, HopRole, Link

Outcome = Literal["passed", "failed", "skipped", "error"]
OUTCOMES: tuple[Outcome, ...] = ("passed", "failed", "skipped", "error")
# The phases of one scenario, in the order they happen; the report shows them in this order.
PHASES = ("apply", "propagate", "probe", "cleanup")
SCHEMA = 1


@dataclass(frozen=True)
class RunInfo:
    """The versions a run used. Kubernetes and kind are empty until the cluster is known."""

    istio_version: str
    kubernetes_version: str = ""
    kind_version: str = ""


@dataclass(frozen=True)
class Evidence:
    """What one check saw: the proof a person reads before opening the diagnostics."""

    check: str
    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    gateway_log: str | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["headers"] = [list(pair) for pair in self.headers]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evidence:
        return cls(
            check=str(data["check"]),
            status=None if data.get("status") is None else int(data["status"]),
            headers=tuple((str(name), str(value)) for name, value in data.get("headers", ())),
            gateway_log=data.get("gateway_log"),
            note=str(data.get("note", "")),
        )


@dataclass(frozen=True)
class ScenarioResult:
    scenario_id: str
    title: str
    nodeid: str
    run: RunInfo
    outcome: Outcome
    duration_s: float
    phases: Mapping[str, float] = field(default_factory=dict)
    evidence: tuple[Evidence, ...] = ()
    flow: tuple[Hop, ...] = ()
    # The skip reason, or the first line of the failure; empty when passed.
    message: str = ""
    diagnostics: str | None = None
    # An upgrade run's result: which upgrade ("1.30.5 -> 1.31.1 (in-place)") and which of its
    # phases (before, skew, after); empty for a fresh-install run.
    upgrade: str = ""
    upgrade_phase: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario_id": self.scenario_id,
            "title": self.title,
            "nodeid": self.nodeid,
            "run": asdict(self.run),
            "outcome": self.outcome,
            "duration_s": round(self.duration_s, 3),
            "phases": {name: round(secs, 3) for name, secs in self.phases.items()},
            "evidence": [item.to_dict() for item in self.evidence],
            "flow": [asdict(hop) for hop in self.flow],
            "message": self.message,
            "diagnostics": self.diagnostics,
            "upgrade": self.upgrade,
            "upgrade_phase": self.upgrade_phase,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScenarioResult:
        outcome = str(data["outcome"])
        if outcome not in OUTCOMES:
            raise ConfigError(f"result {data.get('nodeid')!r}: unknown outcome {outcome!r}")
        return cls(
            scenario_id=str(data["scenario_id"]),
            title=str(data.get("title", "")),
            nodeid=str(data.get("nodeid", "")),
            run=RunInfo(**data["run"]),
            outcome=outcome,
            duration_s=float(data.get("duration_s", 0.0)),
            phases={str(k): float(v) for k, v in data.get("phases", {}).items()},
            evidence=tuple(Evidence.from_dict(item) for item in data.get("evidence", ())),
            flow=flow_from_data(data.get("flow", ())),
            message=str(data.get("message", "")),
            diagnostics=data.get("diagnostics"),
            upgrade=str(data.get("upgrade", "")),
            upgrade_phase=str(data.get("upgrade_phase", "")),
        )


def flow_from_data(items: Iterable[Mapping[str, Any]]) -> tuple[Hop, ...]:
    return tuple(
        Hop(cast(HopRole, str(hop["role"])), str(hop["name"]), cast(Link, str(hop.get("link", ""))))
        for hop in items
    )


@dataclass
class ResultSet:
    results: list[ScenarioResult] = field(default_factory=list)
    # Session-wide phases (cluster, install...) per Istio version, as the harness timed them.
    session_phases: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def istio_versions(self) -> list[str]:
        """Columns of the report: every Istio version seen, oldest first."""
        seen = {result.run.istio_version for result in self.results} | set(self.session_phases)
        return sorted(seen, key=_version_key)

    @property
    def scenario_ids(self) -> list[str]:
        """Rows of the report, in first-seen order (the order the run collected them)."""
        return list(dict.fromkeys(result.scenario_id for result in self.results))

    def cell(self, scenario_id: str, istio_version: str) -> ScenarioResult | None:
        """The fresh-install result (an upgrade's phases are in ``upgrade_results``)."""
        for result in self.results:
            if (result.scenario_id == scenario_id and result.run.istio_version == istio_version
                    and not result.upgrade):
                return result
        return None

    def upgrade_results(self, scenario_id: str) -> list[ScenarioResult]:
        return [r for r in self.results if r.scenario_id == scenario_id and r.upgrade]

    def counts(self) -> dict[str, int]:
        tally: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        for result in self.results:
            tally[result.outcome] += 1
        return tally

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "results": [result.to_dict() for result in self.results],
            "session_phases": self.session_phases,
        }

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResultSet:
        if data.get("schema") != SCHEMA:
            raise ConfigError(f"result set schema {data.get('schema')!r}; expected {SCHEMA}")
        return cls(
            results=[ScenarioResult.from_dict(item) for item in data.get("results", ())],
            session_phases={
                str(version): {str(k): float(v) for k, v in phases.items()}
                for version, phases in data.get("session_phases", {}).items()
            },
        )

    @classmethod
    def read(cls, path: Path) -> ResultSet:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"no result set at {path}") from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from exc
        return cls.from_dict(data)

    @classmethod
    def merge(cls, sets: Iterable[ResultSet]) -> ResultSet:
        """One set from the nightly's per-version sets; a later result for the same scenario and
        version (a re-run attempt) replaces the earlier one."""
        merged: dict[tuple[str, str, str, str], ScenarioResult] = {}
        phases: dict[str, dict[str, float]] = {}
        for one in sets:
            for result in one.results:
                merged[(result.scenario_id, result.run.istio_version, result.upgrade,
                        result.upgrade_phase)] = result
            phases.update(one.session_phases)
        return cls(results=list(merged.values()), session_phases=phases)


def _version_key(text: str) -> tuple[int, Any]:
    try:
        return (0, parse_version(text))
    except ConfigError:
        return (1, text)
