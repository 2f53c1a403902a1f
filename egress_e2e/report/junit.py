"""JUnit XML from a result set: one testcase per scenario and Istio version.

CI systems show these natively; the properties say which Istio, Kubernetes and kind a case ran
on and where its diagnostics are, so a red case in a CI tab already points at the bundle.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from egress_e2e.report.model import ResultSet, ScenarioResult


def render(results: ResultSet) -> str:
    root = ET.Element("testsuites", name="istio-egress-e2e")
    for version in results.istio_versions:
        cases = [r for r in results.results if r.run.istio_version == version]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"istio-{version}",
            tests=str(len(cases)),
            failures=str(sum(r.outcome == "failed" for r in cases)),
            errors=str(sum(r.outcome == "error" for r in cases)),
            skipped=str(sum(r.outcome == "skipped" for r in cases)),
            time=f"{sum(r.duration_s for r in cases):.3f}",
        )
        for result in cases:
            _testcase(suite, result)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write(results: ResultSet, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(results), encoding="utf-8")
    return path


def _testcase(suite: ET.Element, result: ScenarioResult) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        classname=f"istio-{result.run.istio_version}",
        name=result.scenario_id,
        time=f"{result.duration_s:.3f}",
    )
    props = ET.SubElement(case, "properties")
    pairs = [
        ("istio_version", result.run.istio_version),
        ("kubernetes_version", result.run.kubernetes_version),
        ("kind_version", result.run.kind_version),
        ("diagnostics", result.diagnostics or ""),
        ("nodeid", result.nodeid),
    ]
    for name, value in pairs:
        ET.SubElement(props, "property", name=name, value=value)
    if result.outcome == "failed":
        ET.SubElement(case, "failure", message=result.message)
    elif result.outcome == "error":
        ET.SubElement(case, "error", message=result.message)
    elif result.outcome == "skipped":
        ET.SubElement(case, "skipped", message=result.message)
