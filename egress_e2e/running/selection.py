"""The checks that cost nothing, made before any Docker or cluster work: the settings resolve,
the Istio version is one versions.toml knows, and ``-k`` / ``-m`` select at least one scenario.

Selection is pytest's own: the scenario paths are collected in-process (``--collect-only``,
nothing printed) under the same expressions, so what counts is exactly what the run would run.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from egress_e2e.core.errors import ConfigError
from egress_e2e.infra import versions
from egress_e2e.session.settings import Settings


def check_settings(settings: Settings) -> None:
    """Raise ConfigError (one line) for a setting that would fail the run later."""
    if settings.uses_kind:
        versions.load().istio(settings.istio_version)  # unknown: one line listing the known
    if settings.upgrade_from:
        from egress_e2e.infra import upgrade

        upgrade.plan_upgrade(versions.load(), settings.upgrade_from, settings.istio_version,
                             settings.upgrade_method)
    if settings.existing_kubeconfig is not None:
        check_kubeconfig(settings.existing_kubeconfig)


def check_kubeconfig(path: Path) -> None:
    """A kubeconfig that cannot serve, said in plain words (the client's own errors for a binary
    file or a bare string are a decoder's or a type's)."""
    where = f"--existing-kubeconfig {path}"
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{where}: not a text file, so not a kubeconfig") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML ({' '.join(str(exc).split())[:200]})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: not a kubeconfig (a YAML {type(data).__name__}, not a mapping "
                          "with clusters, users and contexts)")
    missing = [key for key in ("clusters", "users", "contexts") if not data.get(key)]
    if missing:
        raise ConfigError(f"{where}: not a usable kubeconfig: no {', '.join(missing)}")


class _Counter:
    """A plugin for the nested collection: how many items survived -k/-m, how many did not."""

    def __init__(self) -> None:
        self.selected = 0
        self.deselected = 0
        self.errors = 0
        self.groups: list[str] = []   # the xdist_group of each selected item that has one

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self.errors += report.failed

    def pytest_deselected(self, items: Sequence[pytest.Item]) -> None:
        self.deselected += len(items)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.selected = len(session.items)
        for item in session.items:
            mark = item.get_closest_marker("xdist_group")
            if mark is not None:
                self.groups.append(str(mark.kwargs.get("name", mark.args[0] if mark.args else "")))


def _collect(paths: Sequence[str], *, keyword: str, markexpr: str,
             rootdir: Path | None, scenarios_dirs: Sequence[str] = ()
             ) -> tuple[_Counter, int, str]:
    """Collect ``paths`` in-process as the run would, printing nothing."""
    counter = _Counter()
    argv = ["--collect-only", "-q", "-p", "no:cacheprovider", "--capture=no"]
    for directory in scenarios_dirs:  # the run's scenario files are selected like the catalog
        argv += ["--scenarios-dir", directory]
    if rootdir is not None:
        argv += ["--rootdir", str(rootdir)]
    if keyword:
        argv += ["-k", keyword]
    if markexpr:
        argv += ["-m", markexpr]
    # pytest reports a malformed expression on stderr itself: keep it for our one line.
    said = io.StringIO()
    with contextlib.redirect_stderr(said), contextlib.redirect_stdout(said):
        code = pytest.main([*argv, *paths], plugins=[counter])
    return counter, code, said.getvalue()


@dataclass(frozen=True)
class Run:
    """What the run selects and how pytest-xdist would distribute it."""

    paths: tuple[str, ...]
    keyword: str = ""
    markexpr: str = ""
    rootdir: Path | None = None
    workers: int = 0
    dist: str = "no"
    scenarios_dirs: tuple[str, ...] = ()

    @property
    def selects(self) -> bool:
        return bool(self.keyword or self.markexpr)

    @property
    def separates_groups(self) -> bool:
        """Whether xdist could put two scenarios of one xdist_group on different workers."""
        return self.workers >= 2 and self.dist != "loadgroup"


def check_run(run: Run) -> None:
    """Both checks below from one in-process collection, and none when neither applies."""
    if not (run.selects or run.separates_groups):
        return
    collected = _collect(run.paths, keyword=run.keyword, markexpr=run.markexpr,
                         rootdir=run.rootdir, scenarios_dirs=run.scenarios_dirs)
    if run.selects:
        _judge_selection(run.paths, run.keyword, run.markexpr, collected)
    if run.separates_groups:
        _judge_distribution(run.workers, run.dist, collected[0])


def check_selection(paths: Sequence[str], *, keyword: str = "", markexpr: str = "",
                    rootdir: Path | None = None) -> int:
    """The number of scenarios ``-k keyword -m markexpr`` selects under ``paths``; ConfigError
    when it is none, naming the expression."""
    collected = _collect(paths, keyword=keyword, markexpr=markexpr, rootdir=rootdir)
    return _judge_selection(paths, keyword, markexpr, collected)


def _judge_selection(paths: Sequence[str], keyword: str, markexpr: str,
                     collected: tuple[_Counter, int, str]) -> int:
    counter, code, said = collected
    given = " ".join(f"{flag} {expr!r}" for flag, expr in (("-k", keyword), ("-m", markexpr))
                     if expr)
    if code == pytest.ExitCode.USAGE_ERROR:
        detail = next((line.removeprefix("ERROR: ") for line in said.splitlines()
                       if line.startswith("ERROR: ")), "not a valid expression")
        raise ConfigError(f"{given or ' '.join(paths)}: {detail}")
    if counter.errors:
        raise ConfigError(f"scenarios do not collect ({counter.errors} error(s)): run "
                          f"'pytest --collect-only {' '.join(paths)}' to see why")
    if counter.selected == 0:
        total = counter.selected + counter.deselected
        raise ConfigError(f"{given or ' '.join(paths)} selects no scenario (of {total}); "
                          "'egress-e2e list' shows their ids")
    return counter.selected


def _judge_distribution(workers: int, dist: str, counter: _Counter) -> None:
    """Scenarios that share one fake thing whose log their evidence reads (the CONNECT proxy)
    or one gateway carry the same xdist_group, and must run one after another: pytest-xdist
    keeps a group on one worker only with ``--dist loadgroup``. Side by side they would see
    each other's tunnels, so the run refuses in one line instead."""
    shared = sorted({group for group in counter.groups if counter.groups.count(group) > 1})
    if shared:
        counts = ", ".join(f"{counter.groups.count(g)} share {g}" for g in shared)
        raise ConfigError(f"--dist {dist} with {workers} workers would run scenarios side by side"
                          f" that must take turns ({counts}): add --dist loadgroup (make e2e "
                          "does), or run with -n 0")
