"""An upgrade run's results file, merged by `egress-e2e report merge`: the before / skew / after
table in the terminal, the job summary and the HTML page, regressions first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from egress_e2e.cli import main
from egress_e2e.report import upgrades
from egress_e2e.report.model import Evidence, Outcome, ResultSet, RunInfo, ScenarioResult

UPGRADE = "1.30.5 -> 1.31.1 (revision)"


def _result(scenario: str, phase: str, outcome: Outcome, *, upgrade: str = UPGRADE,
            version: str = "") -> ScenarioResult:
    istio = version or ("1.30.5" if phase == "before" else "1.31.1")
    return ScenarioResult(
        scenario_id=scenario, title=f"{scenario} title",
        nodeid=f"scenarios/test_catalog.py::test_scenario[{scenario}-{phase}]",
        run=RunInfo(istio_version=istio, kubernetes_version="1.36.4"),
        outcome=outcome, duration_s=1.5,
        evidence=(Evidence(f"{scenario} {phase} check", status=200 if outcome == "passed"
                           else 503),),
        message="" if outcome == "passed" else f"{scenario} broke in {phase}",
        upgrade=upgrade if phase else "", upgrade_phase=phase)


@pytest.fixture
def upgrade_run(tmp_path: Path) -> Path:
    results = ResultSet(results=[
        _result("gateway-http", "before", "passed"),
        _result("gateway-http", "skew", "passed"),
        _result("gateway-http", "after", "passed"),
        _result("passthrough", "before", "passed"),
        _result("passthrough", "skew", "passed"),
        _result("passthrough", "after", "failed"),
        _result("tls-origination", "before", "failed"),
        _result("tls-origination", "skew", "skipped"),
        _result("tls-origination", "after", "skipped"),
        # A fresh run of the same scenario in the same file stays in the plain matrix.
        _result("gateway-http", "", "passed", upgrade="", version="1.31.1"),
    ])
    return results.write(tmp_path / "run" / "results.json")


def test_results_round_trip_the_upgrade_fields(upgrade_run: Path) -> None:
    loaded = ResultSet.read(upgrade_run)
    phases = [(r.scenario_id, r.upgrade_phase) for r in loaded.results if r.upgrade]
    assert len(phases) == 9
    # The fresh result is the matrix cell; the upgrade's after phase (same version) is not.
    assert loaded.cell("gateway-http", "1.31.1").upgrade == ""
    assert [r.upgrade_phase for r in loaded.upgrade_results("gateway-http")] == [
        "before", "skew", "after"]


def test_a_break_after_a_pass_is_a_regression_and_stands_first(upgrade_run: Path) -> None:
    table = upgrades.rows(ResultSet.read(upgrade_run))
    assert [(row.scenario_id, row.regression) for row in table] == [
        ("passthrough", True), ("gateway-http", False), ("tls-origination", False)]
    first = table[0].first_broken
    assert first is not None and first.message == "passthrough broke in after"


def test_merge_shows_the_table_in_terminal_summary_and_html(
        upgrade_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    summary = tmp_path / "summary.md"
    out_dir = tmp_path / "merged"
    assert main(["report", "merge", str(upgrade_run.parent), "--out", str(out_dir),
                 "--markdown", str(summary)]) == 0
    printed = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(printed) if line.startswith("upgrade "))
    assert printed[header].split() == ["upgrade", "scenario", "before", "skew", "after"]
    first = printed[header + 2].split()
    assert first[-5:] == ["passthrough", "passed", "passed", "failed", "REGRESSION"]
    assert "1 regression(s) in 3 upgraded scenario(s)" in printed
    markdown = summary.read_text()
    assert f"| {UPGRADE} | **passthrough (regression)** | passed | passed | failed |" in markdown
    page = (out_dir / "report.html").read_text()
    assert '<table class="upgrades">' in page
    assert page.index("passthrough <b>regression</b>") < page.index(">gateway-http</td>")
    # Each phase's evidence is on the page under its own heading.
    assert "(after in upgrade 1.30.5 -&gt; 1.31.1 (revision))" in page
    assert "passthrough after check" in page
    merged = json.loads((out_dir / "results.json").read_text())
    assert sum(1 for r in merged["results"] if r["upgrade_phase"]) == 9


def test_a_run_without_upgrade_has_no_table(tmp_path: Path) -> None:
    plain = ResultSet(results=[_result("gateway-http", "", "passed", upgrade="",
                                       version="1.31.1")])
    assert upgrades.lines(plain) == [] and upgrades.markdown(plain) == ""
    assert upgrades.html_table(plain) == ""
