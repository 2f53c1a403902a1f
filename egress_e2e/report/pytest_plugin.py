"""The reporting plugin: records each scenario's result during a run and, at the end, writes the
result set, JUnit, per-scenario timings and the HTML report, then prints a summary table.

The harness registers it with one call, in ``pytest_configure`` of every process (controller
and xdist workers; workers only tag their reports, the controller writes the files)::

    from egress_e2e.report.pytest_plugin import install
    reporter = install(config, artifacts_dir, RunInfo(istio_version="1.31.1"),
                       session_phases=lambda: timer.phases)
    ...  # once the cluster is known (controller):
    reporter.update_run(kubernetes_version="1.37.0", kind_version="v0.33.0")

A test item counts as a scenario when it recorded one (``record.scenario``), is parametrized
with a ``Scenario`` object, or carries ``@pytest.mark.scenario("<id>")`` (resolved with
``scenario_lookup`` for the picture). Other items are left to pytest's own reporting.

What the scenario runner adds per item (see ``record``): ``record.phase(item, "apply")`` (also
"propagate", "probe", "cleanup"), ``record.evidence(item, evidence.from_observation(check,
observed, mismatches))`` and, on failure, ``record.diagnostics(item, bundle_dir)``.

Files in ``artifacts_dir`` at session end: results.json (the recorded result set; merge several
with ``egress-e2e report merge``), junit.xml, scenario-timings.json, report.html.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from egress_e2e.report import html, junit, record, summary
from egress_e2e.report.model import (
    Outcome,
    ResultSet,
    RunInfo,
    ScenarioResult,
    flow_from_data,
)
from egress_e2e.scenario.model import Scenario

PLUGIN_NAME = "egress-e2e-report"
RESULTS_FILE = "results.json"
HTML_FILE = "report.html"
JUNIT_FILE = "junit.xml"
# The harness's own timings.json holds the session phases; this one adds each scenario's.
TIMINGS_FILE = "scenario-timings.json"

ScenarioLookup = Callable[[str], Scenario | None]


@dataclass
class _Partial:
    """One test item's reports folded together as they arrive (setup, call, teardown)."""

    nodeid: str
    outcome: Outcome = "passed"
    duration_s: float = 0.0
    message: str = ""
    properties: list[tuple[str, Any]] = field(default_factory=list)


class EgressReport:
    def __init__(
        self,
        artifacts_dir: Path,
        run: RunInfo,
        *,
        scenario_lookup: ScenarioLookup | None = None,
        session_phases: Callable[[], Mapping[str, float]] | None = None,
        is_worker: bool = False,
    ) -> None:
        self.artifacts_dir = artifacts_dir
        # An xdist worker only tags items; versions are added where the run is known: the
        # controller (a worker may never learn the cluster's Kubernetes version).
        self.is_worker = is_worker
        self.run = run
        self._lookup = scenario_lookup
        self._session_phases = session_phases
        self._partials: dict[str, _Partial] = {}
        self.written: list[Path] = []

    def update_run(self, **changes: str) -> None:
        """Fill in versions learnt after start (the cluster's Kubernetes, kind's version)."""
        self.run = replace(self.run, **changes)

    # -- every process: tag the item before pytest builds each report from it ----------------
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        del call
        self._tag_scenario(item)
        return (yield)

    def _tag_scenario(self, item: pytest.Item) -> None:
        if record.has(item, record.SCENARIO_ID):
            return
        declared = _scenario_param(item)
        marker = item.get_closest_marker("scenario")
        if declared is None and marker is not None and marker.args:
            scenario_id = str(marker.args[0])
            declared = self._lookup(scenario_id) if self._lookup else None
            if declared is None:
                item.user_properties.append((record.SCENARIO_ID, scenario_id))
                return
        if declared is not None:
            record.scenario(item, declared)

    # -- controller (or -n0): collect ------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_worker or not record.has(report, record.SCENARIO_ID):
            return
        # tryfirst: pytest's own --junitxml reads these properties after us.
        record.run_versions(report.user_properties, self.run)
        partial = self._partials.setdefault(report.nodeid, _Partial(report.nodeid))
        partial.duration_s += report.duration
        partial.properties = list(report.user_properties)
        _fold_outcome(partial, report)

    def results(self) -> ResultSet:
        found = []
        for partial in self._partials.values():
            props = record.read(partial.properties)
            found.append(
                ScenarioResult(
                    scenario_id=str(props[record.SCENARIO_ID]),
                    title=str(props.get(record.SCENARIO_TITLE, "")),
                    nodeid=partial.nodeid,
                    run=RunInfo(
                        istio_version=str(props.get(record.ISTIO_VERSION, self.run.istio_version)),
                        kubernetes_version=str(props.get(record.KUBERNETES_VERSION, "")),
                        kind_version=str(props.get(record.KIND_VERSION, "")),
                    ),
                    outcome=partial.outcome,
                    duration_s=partial.duration_s,
                    phases=props["phases"],
                    evidence=tuple(props["evidence"]),
                    flow=flow_from_data(json.loads(props.get(record.FLOW, "[]"))),
                    message=partial.message,
                    diagnostics=_optional_str(props.get(record.DIAGNOSTICS)),
                    upgrade=str(props.get(record.UPGRADE, "")),
                    upgrade_phase=str(props.get(record.UPGRADE_PHASE, "")),
                )
            )
        phases = dict(self._session_phases()) if self._session_phases else {}
        return ResultSet(
            results=found,
            session_phases={self.run.istio_version: phases} if phases else {},
        )

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        del session
        if self.is_worker:
            return  # the controller saw every report
        self.written = write_all(self.results(), self.artifacts_dir)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self._partials:
            return
        terminalreporter.write_sep("=", "egress scenarios")
        for line in summary.lines(self.results()):
            terminalreporter.write_line(line)
        for path in self.written:
            terminalreporter.write_line(f"report: {path}")


def write_all(results: ResultSet, artifacts_dir: Path) -> list[Path]:
    """Write every report file for ``results``; returns their paths."""
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    html_path = artifacts_dir / HTML_FILE
    html_path.write_text(html.render(results, generated=stamp), encoding="utf-8")
    timings = {
        "session_phases": results.session_phases,
        "scenarios": [
            {
                "scenario_id": r.scenario_id,
                "istio_version": r.run.istio_version,
                "outcome": r.outcome,
                "duration_s": round(r.duration_s, 3),
                "phases": {name: round(secs, 3) for name, secs in r.phases.items()},
            }
            for r in results.results
        ],
    }
    timings_path = artifacts_dir / TIMINGS_FILE
    timings_path.write_text(json.dumps(timings, indent=2) + "\n", encoding="utf-8")
    return [
        results.write(artifacts_dir / RESULTS_FILE),
        junit.write(results, artifacts_dir / JUNIT_FILE),
        timings_path,
        html_path,
    ]


def install(
    config: pytest.Config,
    artifacts_dir: Path,
    run: RunInfo,
    *,
    scenario_lookup: ScenarioLookup | None = None,
    session_phases: Callable[[], Mapping[str, float]] | None = None,
) -> EgressReport:
    """Register the reporting plugin once per process and return it (idempotent)."""
    existing = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if isinstance(existing, EgressReport):
        return existing
    reporter = EgressReport(
        artifacts_dir, run, scenario_lookup=scenario_lookup, session_phases=session_phases,
        is_worker=hasattr(config, "workerinput"),
    )
    config.pluginmanager.register(reporter, PLUGIN_NAME)
    return reporter


def _scenario_param(item: pytest.Item) -> Scenario | None:
    """The ``Scenario`` a test was parametrized with (or got from a fixture), if any."""
    callspec = getattr(item, "callspec", None)
    values: list[object] = list(callspec.params.values()) if callspec is not None else []
    values += list(getattr(item, "funcargs", {}).values())
    return next((value for value in values if isinstance(value, Scenario)), None)


def _fold_outcome(partial: _Partial, report: pytest.TestReport) -> None:
    if report.when == "call":
        if report.failed:
            partial.outcome, partial.message = "failed", _failure_line(report)
        elif report.skipped:
            partial.outcome, partial.message = "skipped", _skip_reason(report)
        return
    if report.failed and partial.outcome != "failed":
        # A broken setup or teardown is the harness's fault, not the scenario's: an error.
        partial.outcome = "error"
        partial.message = f"{report.when}: {_failure_line(report)}"
    elif report.skipped and report.when == "setup":
        partial.outcome, partial.message = "skipped", _skip_reason(report)


def _failure_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = str(getattr(crash, "message", "") or report.longreprtext or "failed")
    first = text.strip().splitlines()[0] if text.strip() else "failed"
    return first[:400]


def _skip_reason(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):
        return f"expected failure: {report.wasxfail}"
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "skipped")


def _optional_str(value: object) -> str | None:
    return None if value in (None, "") else str(value)
