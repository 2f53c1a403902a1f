"""``egress-e2e preflight``: fail fast, in one line, when this machine cannot run the e2e suite."""

from __future__ import annotations

import argparse

from egress_e2e.infra import docker


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("preflight", help="check that Docker answers before an e2e run")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    del args
    docker.require_engine()
    return 0
