"""The self-contained HTML report: one file, no scripts, no external resources.

A table of scenarios by Istio version (outcome and duration per cell) on top; below, per
scenario, its traffic-flow picture and, per version, the evidence seen, the phase timings, the
skip reason or failure line, and where the diagnostics are.
"""

from __future__ import annotations

from html import escape

from egress_e2e.report import flow_svg, upgrades
from egress_e2e.report.model import PHASES, ResultSet, ScenarioResult

_CSS = """
body { font-family: sans-serif; margin: 24px; color: #111827; }
h1 { font-size: 22px; margin-bottom: 4px; }
.counts span { margin-right: 14px; }
table { border-collapse: collapse; margin: 12px 0; }
th, td { border: 1px solid #d1d5db; padding: 6px 10px; text-align: left; vertical-align: top; }
th { background: #f3f4f6; }
td.passed { background: #dcfce7; } td.failed, td.error { background: #fee2e2; }
td.skipped { background: #f3f4f6; color: #4b5563; } td.missing { color: #9ca3af; }
section.scenario { border-top: 2px solid #e5e7eb; margin-top: 22px; padding-top: 8px; }
.outcome-passed { color: #166534; } .outcome-failed, .outcome-error { color: #b91c1c; }
.outcome-skipped, .outcome-not-run { color: #4b5563; }
tr.regression td { background: #fef2f2; }
code, pre { font-family: monospace; font-size: 12px; }
pre.log { white-space: pre-wrap; word-break: break-all; background: #f9fafb; padding: 6px;
  border: 1px solid #e5e7eb; margin: 2px 0 8px; }
.muted { color: #6b7280; }
"""


def render(results: ResultSet, *, generated: str = "") -> str:
    versions = results.istio_versions
    counts = results.counts()
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>istio-egress-e2e report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>istio-egress-e2e report</h1>",
    ]
    if generated:
        parts.append(f'<p class="muted">generated {escape(generated)}</p>')
    parts.append(
        '<p class="counts">'
        + "".join(f'<span class="outcome-{name}">{counts[name]} {name}</span>' for name in counts)
        + "</p>"
    )
    parts.append(_runs_table(results, versions))
    upgraded = upgrades.html_table(results)
    if upgraded:
        parts.append(upgraded)
    parts.append(_matrix_table(results, versions))
    for scenario_id in results.scenario_ids:
        parts.append(_scenario_section(results, scenario_id, versions))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _runs_table(results: ResultSet, versions: list[str]) -> str:
    rows = []
    for version in versions:
        sample = next((r for r in results.results if r.run.istio_version == version), None)
        kubernetes = sample.run.kubernetes_version if sample else ""
        kind = sample.run.kind_version if sample else ""
        phases = results.session_phases.get(version, {})
        timing = ", ".join(f"{name} {secs:.0f} s" for name, secs in phases.items())
        rows.append(
            f"<tr><td>{escape(version)}</td><td>{escape(kubernetes or '-')}</td>"
            f"<td>{escape(kind or '-')}</td><td>{escape(timing or '-')}</td></tr>"
        )
    return (
        '<table class="runs"><thead><tr><th>Istio</th><th>Kubernetes</th><th>kind</th>'
        "<th>session phases</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _matrix_table(results: ResultSet, versions: list[str]) -> str:
    head = "".join(f"<th>Istio {escape(version)}</th>" for version in versions)
    rows = []
    for scenario_id in results.scenario_ids:
        cells = []
        for version in versions:
            result = results.cell(scenario_id, version)
            if result is None:
                cells.append('<td class="missing">not run</td>')
                continue
            cells.append(
                f'<td class="{result.outcome}" title="{escape(result.message)}">'
                f"{result.outcome} {result.duration_s:.1f} s</td>"
            )
        anchor = flow_svg.svg_id(scenario_id)
        rows.append(
            f'<tr><th><a href="#{anchor}">{escape(scenario_id)}</a></th>{"".join(cells)}</tr>'
        )
    return (
        f'<table class="matrix"><thead><tr><th>scenario</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _scenario_section(results: ResultSet, scenario_id: str, versions: list[str]) -> str:
    runs = [r for v in versions if (r := results.cell(scenario_id, v)) is not None]
    runs += results.upgrade_results(scenario_id)
    # The flow is the same declaration in every run; draw the newest run's copy.
    drawn = next((r for r in reversed(runs) if r.flow), runs[-1])
    title = drawn.title
    parts = [
        f'<section class="scenario" id="{flow_svg.svg_id(scenario_id)}">',
        f"<h2>{escape(scenario_id)}</h2>",
    ]
    if title:
        parts.append(f"<p>{escape(title)}</p>")
    parts.append(flow_svg.render(drawn.flow, scenario_id))
    for result in runs:
        parts.append(_run_block(result))
    parts.append("</section>")
    return "\n".join(parts)


def _run_block(result: ScenarioResult) -> str:
    during = (f" ({escape(result.upgrade_phase)} in upgrade {escape(result.upgrade)})"
              if result.upgrade else "")
    parts = [
        f"<h3>Istio {escape(result.run.istio_version)}{during}: "
        f'<span class="outcome-{result.outcome}">{result.outcome}</span> '
        f'<span class="muted">in {result.duration_s:.1f} s</span></h3>'
    ]
    if result.message:
        parts.append(f"<p><code>{escape(result.message)}</code></p>")
    if result.phases:
        ordered = [name for name in PHASES if name in result.phases]
        parts.append(
            '<p class="phases muted">'
            + ", ".join(f"{name} {result.phases[name]:.1f} s" for name in ordered)
            + "</p>"
        )
    for seen in result.evidence:
        status = "-" if seen.status is None else str(seen.status)
        parts.append(
            f'<div class="evidence"><b>{escape(seen.check)}</b>: status {escape(status)}'
            + (f" <span class=\"muted\">{escape(seen.note)}</span>" if seen.note else "")
        )
        if seen.headers:
            parts.append(
                "<ul>"
                + "".join(
                    f"<li><code>{escape(name)}: {escape(value)}</code></li>"
                    for name, value in seen.headers
                )
                + "</ul>"
            )
        if seen.gateway_log:
            parts.append('<div class="muted">matched gateway log line</div>'
                         f'<pre class="log">{escape(seen.gateway_log)}</pre>')
        parts.append("</div>")
    if result.diagnostics:
        parts.append(f"<p>diagnostics: <code>{escape(result.diagnostics)}</code></p>")
    return "\n".join(parts)
