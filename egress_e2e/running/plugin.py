"""pytest plugin for the e2e scenarios.

The controller (or the only process, with ``-n0``) prepares the cluster, Istio and the fake
internet once in ``pytest_sessionstart`` and hands a description of it to xdist workers through
``workerinput``. A setup failure ends the session with one line, not one error per test.
Runs that collect only, or that do not point at ``scenarios/``, never touch a cluster.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from egress_e2e.core.errors import EgressE2EError
from egress_e2e.core.timings import PhaseTimer
from egress_e2e.infra.images import image
from egress_e2e.infra.kube import KubeClient
from egress_e2e.infra.upgrade import Phase
from egress_e2e.report.model import RunInfo
from egress_e2e.report.pytest_plugin import install as install_report
from egress_e2e.running import phases, scenario_dirs
from egress_e2e.running.runner import NetworkPolicyEnforcement, ScenarioRun
from egress_e2e.scenario import gates
from egress_e2e.scenario.model import Scenario
from egress_e2e.session import netpol
from egress_e2e.session import settings as settings_mod
from egress_e2e.session.environment import E2EEnvironment, PreparedSession

ENV_KEY = pytest.StashKey[E2EEnvironment]()
UPGRADE_KEY = pytest.StashKey["phases.Driver"]()
SESSION_KEY = pytest.StashKey[PreparedSession]()
SETTINGS_KEY = pytest.StashKey[settings_mod.Settings]()
USER_SCENARIOS_KEY = pytest.StashKey[scenario_dirs.UserScenarios]()
ALLOW_INTERNET_KEY = pytest.StashKey[bool]()
TIMER_KEY = pytest.StashKey[PhaseTimer]()
WORKER_INPUT_KEY = "egress_e2e_environment"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("egress-e2e", "istio-egress-e2e (each flag has an env equivalent)")
    for opt in settings_mod.OPTIONS:
        help_text = f"{opt.help} [env {opt.env}]"
        if opt.kind == "bool":
            group.addoption(opt.flag, action="store_true", default=False,
                            dest=f"egress_{opt.dest}", help=help_text)
        else:
            group.addoption(opt.flag, default=None, dest=f"egress_{opt.dest}",
                            choices=list(opt.choices) or None, help=help_text)
    # Scenario files (docs/scenarios.md): repeatable, so not one of the settings' options.
    group.addoption(scenario_dirs.FLAG, action="append", default=None, metavar="DIR",
                    dest="egress_scenarios_dirs",
                    help="add the scenario files in DIR to the run (repeatable) "
                         f"[env {scenario_dirs.ENV}, {os.pathsep}-separated]")
    group.addoption(scenario_dirs.INTERNET_FLAG, action="store_true", default=False,
                    dest="egress_allow_internet",
                    help="run scenario files whose hosts are marked internet: true (they call "
                         f"the real host) [env {scenario_dirs.INTERNET_ENV}=1]")


def user_scenarios(config: pytest.Config) -> scenario_dirs.UserScenarios:
    """The scenario files this run adds (loaded once per process, in pytest_configure)."""
    return config.stash.get(USER_SCENARIOS_KEY, scenario_dirs.UserScenarios())


def _load_user_scenarios(config: pytest.Config) -> None:
    dirs = scenario_dirs.dirs_from(config.getoption("egress_scenarios_dirs", None), os.environ)
    if not dirs:
        return
    try:
        config.stash[USER_SCENARIOS_KEY] = scenario_dirs.load(dirs)
    except EgressE2EError as exc:
        raise pytest.UsageError(f"egress-e2e: {exc}") from exc


def read_settings(config: pytest.Config) -> settings_mod.Settings:
    given = {opt.dest: config.getoption(f"egress_{opt.dest}") for opt in settings_mod.OPTIONS}
    return settings_mod.resolve(given, os.environ)


def wants_cluster(config: pytest.Config) -> bool:
    """True when this run will execute scenarios: not collect-only, and an argument is (inside)
    the ``scenarios/`` directory."""
    if config.option.collectonly or hasattr(config, "workerinput"):
        return False
    scenarios_dir = (config.rootpath / "scenarios").resolve()
    for arg in config.args:
        path = Path(arg.split("::", 1)[0])
        path = (path if path.is_absolute() else config.invocation_params.dir / path).resolve()
        if path == scenarios_dir or scenarios_dir in path.parents:
            return True
    return False


def interrupt_on_termination() -> Callable[[], None]:
    """Make SIGTERM and SIGHUP (a CI cancel, `timeout`, an IDE's Stop, a closed terminal) end
    the run as Ctrl-C does: KeyboardInterrupt, so fixture teardown deletes the scenarios'
    namespaces and sessionfinish removes the fakes, the DNS edit and the cluster we made.
    Once cleaning up, further ones are ignored so that clean-up can finish (a SIGKILL cannot
    be, and needs none from us for the local fakes). Returns what restores the old handlers.
    Call from the main thread (signal handlers can only be set there)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous: dict[int, Any] = {}
    received: list[int] = []

    def interrupt(signum: int, frame: object) -> None:
        del frame
        if received:
            return
        received.append(signum)
        raise KeyboardInterrupt(f"{signal.Signals(signum).name} received")

    for signum in (signal.SIGTERM, signal.SIGHUP):
        previous[signum] = signal.signal(signum, interrupt)

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    return restore


def pytest_configure(config: pytest.Config) -> None:
    _load_user_scenarios(config)
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput and WORKER_INPUT_KEY in workerinput:
        env = E2EEnvironment.from_json(workerinput[WORKER_INPUT_KEY])
        config.stash[ENV_KEY] = env
        # A worker's scenarios clean up their namespaces on SIGTERM too.
        config.add_cleanup(interrupt_on_termination())
        # Workers only tag their items; the controller writes the report files.
        install_report(config, env.artifacts_dir, RunInfo(istio_version=env.istio_version))


# Set when setup failed and said so in its one line.
STOPPED_KEY = pytest.StashKey[EgressE2EError]()


def _stop(config: pytest.Config, exc: EgressE2EError) -> NoReturn:
    """End the session after printing ``exc`` once. A bare UsageError leaves pytest without
    printing anything more (pytest.exit would print the message twice, the second time as
    ``_pytest.outcomes.Exit``); ``pytest_cmdline_main`` then turns it into exit status 1."""
    _progress_printer(config)(f"egress-e2e: {exc}")
    config.stash[STOPPED_KEY] = exc
    raise pytest.UsageError from exc


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config) -> Generator[None, object, object]:
    try:
        return (yield)
    except pytest.UsageError:
        if STOPPED_KEY in config.stash:
            return 1
        raise


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if not wants_cluster(config):
        return
    from egress_e2e.running import selection
    from egress_e2e.session import environment

    config.add_cleanup(interrupt_on_termination())
    timer = PhaseTimer(emit=_progress_printer(config))
    config.stash[TIMER_KEY] = timer
    try:
        # What costs nothing comes first: a bad version or a -k that selects no scenario is
        # one line before Docker, kind or a cluster is touched.
        settings = read_settings(config)
        selection.check_settings(settings)
        workers = getattr(config.option, "numprocesses", 0)
        phases.check_serial(settings, workers if isinstance(workers, int) else 0)
        selection.check_run(selection.Run(
            tuple(config.args), keyword=config.option.keyword or "",
            markexpr=config.option.markexpr or "", rootdir=config.rootpath,
            workers=workers if isinstance(workers, int) else 0,
            dist=str(getattr(config.option, "dist", "no")),
            scenarios_dirs=tuple(str(d) for d in scenario_dirs.dirs_from(
                config.getoption("egress_scenarios_dirs", None), os.environ))))
        allow_internet = scenario_dirs.internet_allowed(
            bool(config.getoption("egress_allow_internet", False)), os.environ)
        # The files' hosts, for the fake internet the session starts below.
        scenario_dirs.declare_hosts(user_scenarios(config))
    except EgressE2EError as exc:
        _stop(config, exc)
    config.stash[SETTINGS_KEY] = settings
    config.stash[ALLOW_INTERNET_KEY] = allow_internet
    reporter = install_report(config, settings.artifacts_dir,
                              RunInfo(istio_version=settings.istio_version or ""),
                              scenario_lookup=functools.partial(_catalog_lookup, config),
                              session_phases=lambda: timer.phases)
    try:
        prepared = environment.prepare(settings, timer)
    except EgressE2EError as exc:
        # Stopping here skips sessionfinish: record how far setup got before leaving.
        timer.write(settings.artifacts_dir / "timings.json",
                    {"exitstatus": 1, "setup_error": str(exc)})
        _stop(config, exc)
    config.stash[SESSION_KEY] = prepared
    env = config.stash[ENV_KEY] = prepared.env
    reporter.update_run(istio_version=env.istio_version,
                        kubernetes_version=env.kubernetes_version,
                        kind_version=env.kind_version or "")
    if settings.upgrade_from:
        try:
            config.stash[UPGRADE_KEY] = phases.driver_for(
                settings, env, _client(env.kubeconfig), timer, _progress_printer(config))
        except EgressE2EError as exc:
            _stop(config, exc)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    phases.parametrize(metafunc)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if phases.requested(config):
        phases.order(items)


def _catalog_lookup(config: pytest.Config, scenario_id: str) -> Scenario | None:
    from egress_e2e import catalog

    return next((s for s in (*catalog.ALL, *user_scenarios(config).scenarios)
                 if s.id == scenario_id), None)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    env = node.config.stash.get(ENV_KEY, None)
    if env is not None:
        node.workerinput[WORKER_INPUT_KEY] = env.to_json()


# Last: after Ctrl-C, the scenarios' own clean-up (fixture teardown) must run before the
# cluster, the DNS edit and the fakes go.
@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workerinput") or SETTINGS_KEY not in config.stash:
        return
    settings = config.stash[SETTINGS_KEY]
    timer = config.stash[TIMER_KEY]
    prepared = config.stash.get(SESSION_KEY, None)
    env = prepared.env if prepared is not None else None
    try:
        driver = config.stash.get(UPGRADE_KEY, None)
        if driver is not None:
            driver.close()  # what a run cut short still holds
        if prepared is not None:
            prepared.close(timer)
    except EgressE2EError as exc:
        _progress_printer(config)(f"[teardown] egress-e2e: {exc}")
    finally:
        extra: dict[str, object] = {"exitstatus": int(exitstatus)}
        if env is not None:
            extra.update(env.describe())
        timer.write(settings.artifacts_dir / "timings.json", extra)


def _progress_printer(config: pytest.Config) -> Callable[[str], None]:
    reporter = config.pluginmanager.get_plugin("terminalreporter")

    def emit(line: str) -> None:
        if reporter is not None:
            reporter.write_line(line)
        else:
            print(line, flush=True)

    return emit


@pytest.fixture
def egress_environment(request: pytest.FixtureRequest) -> E2EEnvironment:
    """The prepared cluster, Istio and fake internet this run uses."""
    env = request.config.stash.get(ENV_KEY, None)
    if env is None:
        pytest.fail("no e2e environment: run scenarios through 'make e2e' or "
                    "'pytest scenarios/' (setup happens once per session)", pytrace=False)
    return env


@pytest.fixture
def egress_phase() -> Phase | None:
    """The upgrade phase this test checks; parametrized on an upgrade run, else None."""
    return None


@pytest.fixture
def egress_run(request: pytest.FixtureRequest, egress_environment: E2EEnvironment,
               egress_phase: Phase | None) -> Callable[[Scenario], None]:
    """Run a scenario on the session's cluster (``ScenarioRun.run``: apply and check; on
    failure, the diagnostics bundle while the failing state exists; always, clean up). On an
    upgrade run, one phase of it (``phases.PhaseRun``)."""
    env = egress_environment
    api = _client(env.kubeconfig)
    timer = PhaseTimer(emit=_progress_printer(request.config))

    def run(scenario: Scenario) -> None:
        if egress_phase is None:
            reason = gates.skip_reason(scenario, env.istio_version, env.data_plane)
            if reason is not None:
                pytest.skip(reason)
        # A worker has no stash from sessionstart: read the flag and env again.
        allowed = request.config.stash.get(ALLOW_INTERNET_KEY, None)
        if allowed is None:
            allowed = scenario_dirs.internet_allowed(
                bool(request.config.getoption("egress_allow_internet", False)), os.environ)
        reason = user_scenarios(request.config).internet_skip_reason(scenario, allowed)
        if reason is not None:
            pytest.skip(reason)
        if scenario.needs_network_policy:
            verdict = _NETWORK_POLICY.enforced(api, env, image("curl").ref)
            reason = netpol.skip_reason(scenario, verdict)
            if reason is not None:
                pytest.skip(reason)
        emit = _progress_printer(request.config)
        if egress_phase is not None:
            driver = request.config.stash.get(UPGRADE_KEY, None)
            if driver is None:
                pytest.fail("an upgrade phase without an upgrade session", pytrace=False)
            phases.PhaseRun(driver, env, request.node, lambda s, item: ScenarioRun(
                s, env, api, timer, item, emit=emit)).run(scenario, egress_phase)
            return
        ScenarioRun(scenario, env, api, timer, request.node, emit=emit).run()

    return run


@functools.cache
def _client(kubeconfig: Path) -> KubeClient:
    """One API client per process: its API discovery is done once, not once per scenario."""
    return KubeClient(kubeconfig)


# NetworkPolicy enforcement: measured once per process, only when a scenario needs it.
_NETWORK_POLICY = NetworkPolicyEnforcement()
