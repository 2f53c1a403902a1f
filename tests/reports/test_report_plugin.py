"""The reporting plugin on real pytest runs (pytester): results, JUnit, timings, HTML, summary."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest

from egress_e2e.core.errors import ConfigError
from egress_e2e.report import html, junit
from egress_e2e.report.model import ResultSet

pytest_plugins = ["pytester"]

EXPECTED_1_31 = {
    "mutual-then-origination": "passed",
    "passthrough": "passed",
    "connect-tunnel": "failed",
    "in-mesh-headers": "passed",
    "sidecar-scoping": "error",
    "unknown-host-blocked": "passed",
}


def outcomes(results: ResultSet) -> dict[str, str]:
    return {r.scenario_id: r.outcome for r in results.results}


def test_result_set_records_every_scenario_outcome(report_project: Callable[..., object]) -> None:
    run = report_project("1.31.1")
    run.result.assert_outcomes(passed=5, failed=1, errors=1)  # 4 scenarios + 1 plain test pass
    results = ResultSet.read(run.artifacts / "results.json")
    assert outcomes(results) == EXPECTED_1_31  # the plain test is not a scenario
    by_id = {r.scenario_id: r for r in results.results}

    failed = by_id["connect-tunnel"]
    assert failed.message == "AssertionError: connect-tunnel: expected status 200, got 503"
    assert failed.diagnostics == str(run.artifacts / "diagnostics" / "connect-tunnel")
    assert failed.evidence[0].status == 503
    assert [hop.link for hop in failed.flow] == [
        "app TLS", "ISTIO_MUTUAL", "CONNECT tunnel", "passthrough", ""]

    passed = by_id["mutual-then-origination"]
    assert passed.phases["apply"] == 1.25 and passed.phases["probe"] == 2.0
    assert passed.phases["cleanup"] == 0.5 and passed.phases["propagate"] >= 0
    assert passed.duration_s > 0
    assert passed.run.kubernetes_version == "1.37.0" and passed.run.kind_version == "v0.33.0"
    assert dict(passed.evidence[0].headers)["X-Envoy-Internal"] == "true"

    assert by_id["sidecar-scoping"].message.startswith("setup: RuntimeError: kubectl apply failed")
    # Found by its marker, drawn from the declaration the lookup returned.
    assert by_id["unknown-host-blocked"].flow[1].link == "blocked"
    assert results.session_phases == {"1.31.1": {"cluster": 41.2, "install": 63.5}}

    timings = json.loads((run.artifacts / "scenario-timings.json").read_text())
    assert {t["scenario_id"]: t["phases"].get("apply") for t in timings["scenarios"]}[
        "passthrough"] == 1.25


def test_version_gate_skip_names_the_version(report_project: Callable[..., object]) -> None:
    run = report_project("1.30.5")
    results = ResultSet.read(run.artifacts / "results.json")
    gated = next(r for r in results.results if r.scenario_id == "in-mesh-headers")
    assert gated.outcome == "skipped"
    assert gated.message == "in-mesh-headers needs Istio >=1.31; this run uses 1.30.5"


def test_junit_has_a_case_per_scenario_with_version_properties(
    report_project: Callable[..., object],
) -> None:
    run = report_project("1.31.1", "--junitxml=pytest-junit.xml")
    suite = ET.parse(run.artifacts / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert suite.get("name") == "istio-1.31.1"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"),
            suite.get("skipped")) == ("6", "1", "1", "0")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == set(EXPECTED_1_31)
    failed = cases["connect-tunnel"]
    props = {p.get("name"): p.get("value") for p in failed.iter("property")}
    assert props["istio_version"] == "1.31.1"
    assert props["kubernetes_version"] == "1.37.0"
    assert props["kind_version"] == "v0.33.0"
    assert props["diagnostics"].endswith("diagnostics/connect-tunnel")
    failure = failed.find("failure")
    assert failure is not None and "got 503" in (failure.get("message") or "")

    # pytest's own --junitxml carries the same properties (user_properties, added before it reads).
    own = ET.parse(run.artifacts.parent / "pytest-junit.xml")
    own_case = next(c for c in own.iter("testcase") if "connect-tunnel" in (c.get("name") or ""))
    own_props = {p.get("name"): p.get("value") for p in own_case.iter("property")}
    assert own_props["istio_version"] == "1.31.1"
    assert own_props["kind_version"] == "v0.33.0"
    assert own_props["diagnostics"].endswith("diagnostics/connect-tunnel")


def test_terminal_summary_table(report_project: Callable[..., object]) -> None:
    run = report_project("1.31.1")
    run.result.stdout.fnmatch_lines([
        "*= egress scenarios =*",
        "scenario*istio*result*duration*diagnostics",
        "mutual-then-origination*1.31.1*passed*s",
        f"connect-tunnel*1.31.1*failed*s*{run.artifacts}/diagnostics/connect-tunnel",
        "sidecar-scoping*1.31.1*error*(none recorded)",
        "4 passed, 1 failed, 1 error",
        f"report: {run.artifacts}/report.html",
    ])


def test_xdist_workers_report_to_the_controller(report_project: Callable[..., object]) -> None:
    run = report_project("1.31.1", "-p", "xdist", "-n", "2", subprocess=True)
    results = ResultSet.read(run.artifacts / "results.json")
    assert outcomes(results) == EXPECTED_1_31
    by_id = {r.scenario_id: r for r in results.results}
    assert by_id["connect-tunnel"].flow[2].link == "CONNECT tunnel"
    assert by_id["passthrough"].phases["apply"] == 1.25
    assert by_id["passthrough"].run.kind_version == "v0.33.0"
    run.result.stdout.fnmatch_lines(["*= egress scenarios =*", "connect-tunnel*failed*"])


class _Collector(HTMLParser):
    """Tags, ids and text of the report, for structural checks."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.ids: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.ids += [value or "" for name, value in attrs if name == "id"]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_merges_istio_versions_into_one_table(
    report_project: Callable[..., object],
) -> None:
    runs = [report_project("1.30.5"), report_project("1.31.1")]
    merged = ResultSet.merge(ResultSet.read(r.artifacts / "results.json") for r in runs)
    assert merged.istio_versions == ["1.30.5", "1.31.1"]
    page = html.render(merged)
    parsed = _Collector()
    parsed.feed(page)
    text = " ".join(parsed.text)
    assert "Istio 1.30.5" in text and "Istio 1.31.1" in text
    assert parsed.tags.count("svg") == len(EXPECTED_1_31)
    assert "skipped 0.0 s" in page  # the gated scenario on 1.30.5
    for label in ("ISTIO_MUTUAL", "TLS originated", "passthrough", "CONNECT tunnel", "blocked"):
        assert label in text
    assert "REGISTRY_ONLY: an unknown host is blocked &lt;here&gt;" in page  # escaped
    assert len(set(parsed.ids)) == len(parsed.ids)  # marker ids stay unique across pictures
    assert "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "").replace("http://httpbin.org", "")
    xml_text = junit.render(merged)
    suites = ET.fromstring(xml_text).findall("testsuite")
    assert [s.get("name") for s in suites] == ["istio-1.30.5", "istio-1.31.1"]


@pytest.mark.parametrize("broken", ['{"schema": 99}', "not json"])
def test_result_set_refuses_unknown_input(tmp_path: Path, broken: str) -> None:
    path = tmp_path / "results.json"
    path.write_text(broken)
    with pytest.raises(ConfigError, match=r"results\.json|schema"):
        ResultSet.read(path)


def test_report_merge_command(
    report_project: Callable[..., object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from egress_e2e import cli

    runs = [report_project("1.31.1"), report_project("1.30.5")]
    # A re-run attempt of 1.31.1 in which connect-tunnel passed: it must win the merge.
    first = ResultSet.read(runs[0].artifacts / "results.json")
    rerun_dir = tmp_path / "e2e-istio-1.31.1-attempt-2"
    ResultSet([r if r.scenario_id != "connect-tunnel" else
               type(r)(**{**r.__dict__, "outcome": "passed", "message": "", "diagnostics": None})
               for r in first.results], first.session_phases).write(rerun_dir / "results.json")
    (tmp_path / "e2e-istio-1.31.1-attempt-1").mkdir()
    (runs[0].artifacts / "results.json").rename(
        tmp_path / "e2e-istio-1.31.1-attempt-1" / "results.json")
    summary_md = tmp_path / "summary.md"
    out = tmp_path / "merged"
    code = cli.main(["report", "merge", str(tmp_path), str(runs[1].artifacts / "results.json"),
                     "--out", str(out), "--markdown", str(summary_md)])
    printed = capsys.readouterr().out
    assert code == 0
    merged = ResultSet.read(out / "results.json")
    assert merged.istio_versions == ["1.30.5", "1.31.1"]
    cell = merged.cell("connect-tunnel", "1.31.1")
    assert cell is not None and cell.outcome == "passed"
    assert {p.name for p in out.iterdir()} == {
        "results.json", "junit.xml", "scenario-timings.json", "report.html"}
    table = summary_md.read_text().splitlines()
    assert table[0] == "| scenario | Istio 1.30.5 | Istio 1.31.1 |"
    assert any(line.startswith("| in-mesh-headers | skipped") for line in table)
    assert "connect-tunnel" in printed and f"report: {out / 'report.html'}" in printed


def test_report_merge_without_results_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from egress_e2e import cli

    code = cli.main(["report", "merge", str(tmp_path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and err == f"egress-e2e: no results.json under {tmp_path}\n"
