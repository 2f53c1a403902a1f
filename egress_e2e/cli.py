"""``egress-e2e``: the command-line face of the harness.

Expected failures (``EgressE2EError``) print one line, ``egress-e2e: <message>``, and exit 1;
usage errors exit 2 (argparse); a closed output pipe ends the command quietly with 141.
Subcommands live in ``egress_e2e.commands``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from egress_e2e.core.errors import EgressE2EError

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _registrars() -> list[Registrar]:
    from egress_e2e.commands import (
        catalog,
        clean,
        matrix,
        observations,
        preflight,
        report,
        scaffold,
        tools,
    )

    return [preflight.register, matrix.register, tools.register, clean.register, catalog.register,
            report.register, observations.register, scaffold.register]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="egress-e2e",
        description="End-to-end proof that Istio egress-gateway patterns work.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in _registrars():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        code = func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at exit
        return code
    except BrokenPipeError:
        # The reader went away (`egress-e2e list | head -1`): stop quietly, as a pipe's
        # writer does. stdout goes to /dev/null so the interpreter's last flush cannot fail.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader closed
    except EgressE2EError as exc:
        print(f"egress-e2e: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("egress-e2e: interrupted", file=sys.stderr)
        return 130
