"""``egress-e2e observations import|diff``: bring a nightly's observation records into the
offline fixtures, and show what changed on the wire between two records (an Istio upgrade)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from egress_e2e.core.errors import ConfigError
from egress_e2e.core.paths import REPO_ROOT

# Where the offline suite replays records from (tests/evidence/test_observations_replay.py).
FIXTURES_DIR = REPO_ROOT / "tests" / "evidence" / "observations"

DIFF_HELP = """\
Compare two observation records of the same scenario (two .json files), or two version
directories (records paired by file name). Prints one line per difference: status, response
and echoed request headers added or gone, access-log fields changed, verdict.

exit status: 0 no difference, 1 differences found, 2 usage error (bad arguments, unreadable
or invalid record, records of different scenarios)."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("observations",
                            help="import observation records into the fixtures, or diff them")
    actions = parser.add_subparsers(dest="observations_command", required=True,
                                    metavar="ACTION")
    imports = actions.add_parser(
        "import", help="copy records from downloaded artifacts (any nesting) into the fixtures")
    imports.add_argument("inputs", nargs="+", type=Path, metavar="DIR")
    imports.add_argument("--into", type=Path, default=FIXTURES_DIR,
                         help=f"fixtures directory (default: {FIXTURES_DIR})")
    imports.set_defaults(func=run_import)
    diff = actions.add_parser("diff", help="what changed between two records (exit 1 if any)",
                              description=DIFF_HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    diff.add_argument("a", type=Path, metavar="A")
    diff.add_argument("b", type=Path, metavar="B")
    diff.set_defaults(func=run_diff)


def run_import(args: argparse.Namespace) -> int:
    from egress_e2e.report import observations

    for done in observations.import_records(args.inputs, args.into):
        print(f"imported {done.target} (from {done.source})")
    return 0


def run_diff(args: argparse.Namespace) -> int:
    from egress_e2e.report import observations

    try:
        lines = observations.diff_paths(args.a, args.b)
    except ConfigError as exc:
        print(f"egress-e2e: {exc}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    return 1 if lines else 0
