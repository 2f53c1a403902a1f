"""``egress-e2e new <id> [--from <catalog-id>] --dir DIR``: write a scenario file to start from.

The file is ``DIR/<id>.yaml``, commented field by field (docs/scenarios.md); with ``--from`` it
spells that catalog scenario, its templates inlined, so it lints, renders and runs as written.
It never overwrites a file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from egress_e2e.core.errors import ConfigError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    new = sub.add_parser("new", help="write a scenario file (DIR/<id>.yaml), optionally from a "
                                     "catalog scenario")
    new.add_argument("scenario_id", metavar="ID", help="the new scenario's id (a DNS label)")
    new.add_argument("--from", dest="source", metavar="CATALOG_ID",
                     help="start from this catalog scenario ('egress-e2e list' shows them)")
    new.add_argument("--dir", dest="directory", type=Path, required=True, metavar="DIR",
                     help="where to write it (created if missing); then run with "
                          "--scenarios-dir DIR")
    new.set_defaults(func=run_new)


def run_new(args: argparse.Namespace) -> int:
    from egress_e2e import catalog
    from egress_e2e.catalog.files import scaffold
    from egress_e2e.core.labels import is_dns_label

    new_id: str = args.scenario_id
    if not is_dns_label(new_id) or len(new_id) > catalog.MAX_ID_LENGTH:
        raise ConfigError(f"new {new_id!r}: expected a lowercase DNS label of at most "
                          f"{catalog.MAX_ID_LENGTH} characters (letters, digits, '-')")
    if new_id in catalog.ids():
        raise ConfigError(f"new {new_id}: a catalog scenario has that id; choose another")
    if args.source:
        declared = scaffold.from_catalog(new_id, catalog.by_id(args.source))
        text = scaffold.to_text(declared, origin=f"catalog scenario {args.source}")
    else:
        text = scaffold.to_text(scaffold.starter(new_id), origin="the starter")
    directory: Path = args.directory
    target = directory / f"{new_id}.yaml"
    if target.exists() or (directory / new_id).exists():
        raise ConfigError(f"new {new_id}: {target if target.exists() else directory / new_id} "
                          "exists already; not overwritten")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with target.open("x", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise ConfigError(f"new {new_id}: cannot write {target} "
                          f"({exc.strerror or exc})") from exc
    print(f"egress-e2e new: wrote {target}; check it with: egress-e2e lint --scenarios-dir "
          f"{directory}", file=sys.stderr)
    return 0
