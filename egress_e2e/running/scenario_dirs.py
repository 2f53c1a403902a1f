"""Scenario files from ``--scenarios-dir`` directories, added to the catalog's scenarios.

``load(dirs)`` reads every file (``catalog.files.load``), refuses an id that a catalog scenario
or another file already has (one line naming both), and makes the default renderer serve each
file's resources (``rendering.file_templates``), so every reader of a ``Scenario`` (the run,
``render``, ``explain``, ``lint``, the report) treats a file's scenario as a built-in one.
``declare_hosts`` hands the files' hosts to the fake internet before it starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from egress_e2e.catalog.files import load as file_load
from egress_e2e.core.errors import ConfigError
from egress_e2e.fakes import declared
from egress_e2e.rendering import file_templates
from egress_e2e.scenario.model import Scenario

ENV: Final = "EGRESS_E2E_SCENARIOS_DIR"
FLAG: Final = "--scenarios-dir"
INTERNET_ENV: Final = "EGRESS_E2E_ALLOW_INTERNET"
INTERNET_FLAG: Final = "--allow-internet"
_TRUE: Final = frozenset({"1", "true", "yes", "on"})


def dirs_from(given: Iterable[str | Path] | None, environ: Mapping[str, str]) -> tuple[Path, ...]:
    """The flag's directories (repeatable) when given, else the env's (os.pathsep-separated)."""
    chosen = [str(d) for d in given or ()]
    if not chosen:
        chosen = [part for part in environ.get(ENV, "").split(os.pathsep) if part.strip()]
    return tuple(dict.fromkeys(Path(d).expanduser() for d in chosen))


def internet_allowed(flag: bool, environ: Mapping[str, str]) -> bool:
    value = environ.get(INTERNET_ENV, "").strip().lower()
    if value and value not in _TRUE and value not in {"0", "false", "no", "off"}:
        raise ConfigError(f"{INTERNET_ENV}={value!r}: expected 1 or 0")
    return flag or value in _TRUE


@dataclass(frozen=True)
class UserScenarios:
    """The files of ``--scenarios-dir``, loaded and registered."""

    files: tuple[file_load.LoadedFile, ...] = ()

    @property
    def scenarios(self) -> tuple[Scenario, ...]:
        return tuple(f.scenario for f in self.files)

    def file_of(self, scenario_id: str) -> file_load.LoadedFile | None:
        return next((f for f in self.files if f.scenario.id == scenario_id), None)

    def internet_skip_reason(self, scenario: Scenario, allowed: bool) -> str | None:
        """Why a scenario that calls real internet hosts does not run here, or None."""
        loaded = self.file_of(scenario.id)
        if allowed or loaded is None or not loaded.internet_hosts:
            return None
        return (f"{scenario.id} calls the real internet ({', '.join(loaded.internet_hosts)}): "
                f"run with {INTERNET_FLAG} (or {INTERNET_ENV}=1) to allow it")


def discover(dirs: Sequence[Path]) -> list[Path]:
    return [path for directory in dirs for path in file_load.discover(directory)]


def load(dirs: Sequence[Path], catalog_scenarios: Sequence[Scenario] | None = None
         ) -> UserScenarios:
    """Every scenario file under ``dirs``, checked against the catalog and each other, with
    its resources registered for rendering. The first problem raises (one line)."""
    if catalog_scenarios is None:
        from egress_e2e import catalog

        catalog_scenarios = catalog.ALL
    catalog_ids = {s.id for s in catalog_scenarios}
    seen: dict[str, file_load.LoadedFile] = {}
    for path in discover(dirs):
        one = file_load.load(path)
        scenario_id = one.scenario.id
        where = f"{path}:{one.id_line}: id"
        if scenario_id in catalog_ids:
            raise ConfigError(f"{where}: {scenario_id!r} is already a catalog scenario's "
                              f"(egress_e2e/catalog); rename the file and its id")
        if scenario_id in seen:
            first = seen[scenario_id]
            raise ConfigError(f"{where}: {scenario_id!r} is already declared by "
                              f"{first.path}:{first.id_line}")
        seen[scenario_id] = one
    loaded = list(seen.values())
    _check_internet_hosts(loaded)
    for one in loaded:
        file_templates.register(one.scenario.id, one.resources)
    return UserScenarios(tuple(loaded))


def _check_internet_hosts(loaded: Sequence[file_load.LoadedFile]) -> None:
    """A real-internet host of one file must not be faked by another: the session's DNS maps
    every faked name and its subdomains to the fakes (fakes/coredns.py), so the "real" call
    would reach a fake. (Within one file, ``file_load`` says it at the field.)"""
    faked = sorted({h.name.rstrip(".").lower() for one in loaded for h in one.fake_hosts})
    for one in loaded:
        for name in one.internet_hosts:
            zone = file_load.faked_zone(name.rstrip(".").lower(), faked)
            if zone is not None:
                owner = next(o.path for o in loaded
                             if zone in {h.name.rstrip(".").lower() for h in o.fake_hosts})
                raise ConfigError(f"{one.path}:{one.host_lines.get(name, 1)}: hosts: {name!r} "
                                  f"is marked internet, but {owner} "
                                  f"fakes {zone}, which the run's DNS then maps (with its "
                                  "subdomains) to the fake internet; run them separately")


def declare_hosts(user: UserScenarios) -> declared.DeclaredHosts:
    """Hand the files' faked hosts (not the real-internet ones) to the fake internet."""
    hosts = declared.DeclaredHosts.of(
        (host.name, host.kind) for one in user.files for host in one.fake_hosts)
    declared.declare(hosts)
    return hosts


def with_catalog(user: UserScenarios) -> tuple[Scenario, ...]:
    from egress_e2e import catalog

    return (*catalog.ALL, *user.scenarios)


def by_id(scenario_id: str, user: UserScenarios) -> Scenario:
    """A catalog scenario or a file's by id; ConfigError naming close ones otherwise."""
    from egress_e2e import catalog

    found = user.file_of(scenario_id)
    if found is not None:
        return found.scenario
    try:
        return catalog.by_id(scenario_id)
    except ConfigError:
        if user.files:
            raise ConfigError(f"unknown scenario id {scenario_id!r}: not in the catalog nor in "
                              f"the scenario files ({', '.join(s.id for s in user.scenarios)})"
                              ) from None
        raise
