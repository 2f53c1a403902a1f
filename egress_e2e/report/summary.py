"""The table printed at the end of a run: scenario, result, duration, diagnostics for failures."""

from __future__ import annotations

from egress_e2e.report import upgrades
from egress_e2e.report.model import ResultSet

_HEADER = ("scenario", "istio", "result", "duration", "diagnostics")


def lines(results: ResultSet) -> list[str]:
    rows = [_HEADER]
    for result in results.results:
        if result.upgrade:
            continue  # in the upgrade table below
        failed = result.outcome in ("failed", "error")
        rows.append((
            result.scenario_id,
            result.run.istio_version,
            result.outcome,
            f"{result.duration_s:.1f} s",
            (result.diagnostics or "(none recorded)") if failed else "",
        ))
    widths = [max(len(row[col]) for row in rows) for col in range(len(_HEADER))]
    out = []
    for index, row in enumerate(rows):
        out.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                   .rstrip())
        if index == 0:
            out.append("  ".join("-" * width for width in widths))
    counts = results.counts()
    out.append(", ".join(f"{counts[name]} {name}" for name in counts if counts[name]) or "none")
    upgraded = upgrades.lines(results)
    if upgraded:
        out += ["", *upgraded]
    return out


def markdown(results: ResultSet) -> str:
    """The same table for a CI job summary page, with one column per Istio version."""
    versions = results.istio_versions
    out = ["| scenario | " + " | ".join(f"Istio {v}" for v in versions) + " |",
           "|---|" + "---|" * len(versions)]
    for scenario_id in results.scenario_ids:
        cells = []
        for version in versions:
            result = results.cell(scenario_id, version)
            if result is None:
                cells.append("not run")
                continue
            cell = f"{result.outcome} {result.duration_s:.1f} s"
            if result.outcome in ("failed", "error") and result.diagnostics:
                cell += f" (`{result.diagnostics}`)"
            cells.append(cell)
        out.append(f"| {scenario_id} | " + " | ".join(cells) + " |")
    counts = results.counts()
    out.append("")
    out.append(", ".join(f"{counts[name]} {name}" for name in counts if counts[name]) or "none")
    upgraded = upgrades.markdown(results)
    if upgraded:
        out += ["", upgraded.rstrip("\n")]
    return "\n".join(out) + "\n"
