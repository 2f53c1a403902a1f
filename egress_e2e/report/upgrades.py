"""An upgrade run's results side by side: each scenario's before / skew / after outcomes.

A scenario that passed before the upgrade and fails in a later phase is a regression: the
upgrade broke it. Regressions stand first, then the rest in the order the run collected them.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from egress_e2e.infra.upgrade import PHASE_MEANS, PHASES, Phase
from egress_e2e.report.model import ResultSet, ScenarioResult

_BROKEN = ("failed", "error")


@dataclass(frozen=True)
class UpgradeRow:
    upgrade: str
    scenario_id: str
    by_phase: dict[Phase, ScenarioResult]

    @property
    def regression(self) -> bool:
        before = self.by_phase.get(Phase.BEFORE)
        if before is None or before.outcome != "passed":
            return False
        return any(self.by_phase[p].outcome in _BROKEN for p in PHASES[1:] if p in self.by_phase)

    @property
    def first_broken(self) -> ScenarioResult | None:
        return next((self.by_phase[p] for p in PHASES if p in self.by_phase
                     and self.by_phase[p].outcome in _BROKEN), None)

    def outcome(self, phase: Phase) -> str:
        result = self.by_phase.get(phase)
        return "not run" if result is None else result.outcome


def rows(results: ResultSet) -> list[UpgradeRow]:
    """One row per (upgrade, scenario), regressions first."""
    found: dict[tuple[str, str], dict[Phase, ScenarioResult]] = {}
    for result in results.results:
        if not result.upgrade:
            continue
        try:
            phase = Phase(result.upgrade_phase)
        except ValueError:
            continue  # a phase a newer harness wrote: shown with the plain results only
        found.setdefault((result.upgrade, result.scenario_id), {})[phase] = result
    table = [UpgradeRow(upgrade, scenario_id, phases)
             for (upgrade, scenario_id), phases in found.items()]
    return sorted(table, key=lambda row: not row.regression)  # stable: run order otherwise


def lines(results: ResultSet) -> list[str]:
    """The terminal table; empty when the run was no upgrade."""
    table = rows(results)
    if not table:
        return []
    header = ("upgrade", "scenario", *(p.value for p in PHASES), "")
    body = [(row.upgrade, row.scenario_id, *(row.outcome(p) for p in PHASES),
             "REGRESSION" if row.regression else "") for row in table]
    widths = [max(len(r[c]) for r in [header, *body]) for c in range(len(header))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(header, widths, strict=True)).rstrip(),
           "  ".join("-" * w for w in widths).rstrip()]
    out += ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
            for r in body]
    regressions = sum(row.regression for row in table)
    out.append(f"{regressions} regression(s) in {len(table)} upgraded scenario(s)")
    return out


def markdown(results: ResultSet) -> str:
    table = rows(results)
    if not table:
        return ""
    out = ["| upgrade | scenario | " + " | ".join(p.value for p in PHASES) + " |",
           "|---|---|" + "---|" * len(PHASES)]
    for row in table:
        name = f"**{row.scenario_id} (regression)**" if row.regression else row.scenario_id
        out.append(f"| {row.upgrade} | {name} | "
                   + " | ".join(row.outcome(p) for p in PHASES) + " |")
    return "\n".join(out) + "\n"


def html_table(results: ResultSet) -> str:
    table = rows(results)
    if not table:
        return ""
    head = "".join(f'<th title="{escape(PHASE_MEANS[p])}">{p.value}</th>' for p in PHASES)
    body = []
    for row in table:
        cells = []
        for phase in PHASES:
            outcome = row.outcome(phase)
            cells.append(f'<td class="outcome-{escape(outcome.replace(" ", "-"))}">'
                         f"{escape(outcome)}</td>")
        mark = ' class="regression"' if row.regression else ""
        label = escape(row.scenario_id) + (" <b>regression</b>" if row.regression else "")
        body.append(f"<tr{mark}><td>{escape(row.upgrade)}</td><td>{label}</td>"
                    f"{''.join(cells)}</tr>")
    return ('<h2>Upgrade</h2><table class="upgrades"><thead><tr><th>upgrade</th>'
            f"<th>scenario</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
