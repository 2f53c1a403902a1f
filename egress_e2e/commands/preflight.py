"""``egress-e2e preflight``: fail fast, in one line, when this run cannot work: first what costs
nothing (settings, the Istio version, that ``-k`` selects a scenario), then the Docker engine."""

from __future__ import annotations

import argparse
import os

from egress_e2e.infra import docker
from egress_e2e.running import selection
from egress_e2e.session import settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("preflight", help="check the run's settings and selection, then "
                                              "that Docker answers, before an e2e run")
    parser.add_argument("--istio-version", metavar="X",
                        help="the Istio version the run asks for (checked against versions.toml)")
    parser.add_argument("-k", dest="keyword", default="", metavar="EXPR",
                        help="pytest -k expression the run uses: it must select a scenario")
    parser.add_argument("-m", dest="markexpr", default="", metavar="EXPR",
                        help="pytest -m expression the run uses")
    parser.add_argument("--upgrade-from", metavar="X",
                        help="an upgrade run's source version (checked with --istio-version)")
    parser.add_argument("--upgrade-method", metavar="METHOD",
                        help="an upgrade run's method: in-place or revision")
    parser.add_argument("--scenarios", default="scenarios", metavar="PATH",
                        help="the scenario tests the selection applies to (default: scenarios)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # The run's settings come from the same flags and EGRESS_E2E_* variables as pytest's.
    resolved = settings.resolve({"istio_version": args.istio_version,
                                 "upgrade_from": args.upgrade_from,
                                 "upgrade_method": args.upgrade_method}, os.environ)
    selection.check_settings(resolved)
    if args.keyword or args.markexpr:
        selection.check_selection([args.scenarios], keyword=args.keyword,
                                  markexpr=args.markexpr)
    if resolved.uses_kind:
        engine = docker.require_engine()
        print(f"egress-e2e: Docker engine at {engine.url} ({engine.source})")
    return 0
