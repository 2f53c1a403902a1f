"""``egress-e2e report merge``: one report (HTML, JUnit, timings) from several runs' results, such
as the nightly's one-per-Istio-version artifacts, so the table shows scenarios by version."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from egress_e2e.core.errors import ConfigError
from egress_e2e.report import summary
from egress_e2e.report.model import ResultSet
from egress_e2e.report.pytest_plugin import RESULTS_FILE, write_all


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("report", help="build reports from recorded results")
    actions = parser.add_subparsers(dest="report_command", required=True, metavar="ACTION")
    merge = actions.add_parser(
        "merge", help=f"merge {RESULTS_FILE} files (or directories holding them) into one report"
    )
    merge.add_argument("inputs", nargs="+", type=Path, metavar="PATH")
    merge.add_argument("--out", type=Path, required=True, help="directory for the merged report")
    merge.add_argument("--markdown", type=Path, default=None,
                       help="also append a Markdown table here (e.g. $GITHUB_STEP_SUMMARY)")
    merge.set_defaults(func=run_merge)


def find_results(inputs: list[Path]) -> list[Path]:
    """Every results file under ``inputs``, in natural order, so ``...attempt-2`` (a re-run)
    comes after ``...attempt-1`` and its results win the merge."""
    found: list[Path] = []
    for path in inputs:
        if path.is_dir():
            found += path.rglob(RESULTS_FILE)
        elif path.is_file():
            found.append(path)
        else:
            raise ConfigError(f"no such file or directory: {path}")
    if not found:
        raise ConfigError(f"no {RESULTS_FILE} under {', '.join(map(str, inputs))}")
    return sorted(set(found), key=_natural_key)


def run_merge(args: argparse.Namespace) -> int:
    merged = ResultSet.merge(ResultSet.read(path) for path in find_results(args.inputs))
    written = write_all(merged, args.out)
    for line in summary.lines(merged):
        print(line)
    for path in written:
        print(f"report: {path}")
    if args.markdown is not None:
        with args.markdown.open("a", encoding="utf-8") as handle:
            handle.write(summary.markdown(merged))
    return 0


def _natural_key(path: Path) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]
