"""pytest plugin for the e2e scenarios.

The controller (or the only process, with ``-n0``) prepares the cluster, Istio and the fake
internet once in ``pytest_sessionstart`` and hands a description of it to xdist workers through
``workerinput``. A setup failure ends the session with one line, not one error per test.
Runs that collect only, or that do not point at ``scenarios/``, never touch a cluster.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from egress_e2e import settings as settings_mod
from egress_e2e.environment import E2EEnvironment
from egress_e2e.errors import EgressE2EError
from egress_e2e.timings import PhaseTimer

ENV_KEY = pytest.StashKey[E2EEnvironment]()
SETTINGS_KEY = pytest.StashKey[settings_mod.Settings]()
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


def pytest_configure(config: pytest.Config) -> None:
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput and WORKER_INPUT_KEY in workerinput:
        config.stash[ENV_KEY] = E2EEnvironment.from_json(workerinput[WORKER_INPUT_KEY])


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if not wants_cluster(config):
        return
    from egress_e2e import environment

    timer = PhaseTimer(emit=_progress_printer(config))
    config.stash[TIMER_KEY] = timer
    try:
        settings = read_settings(config)
        config.stash[SETTINGS_KEY] = settings
        config.stash[ENV_KEY] = environment.prepare(settings, timer)
    except EgressE2EError as exc:
        pytest.exit(f"egress-e2e: {exc}", returncode=1)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    env = node.config.stash.get(ENV_KEY, None)
    if env is not None:
        node.workerinput[WORKER_INPUT_KEY] = env.to_json()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workerinput") or SETTINGS_KEY not in config.stash:
        return
    from egress_e2e import environment

    settings = config.stash[SETTINGS_KEY]
    timer = config.stash[TIMER_KEY]
    env = config.stash.get(ENV_KEY, None)
    try:
        if env is not None:
            environment.teardown(env, settings, timer)
    except EgressE2EError as exc:
        _progress_printer(config)(f"[teardown] egress-e2e: {exc}")
    finally:
        extra: dict[str, object] = {"exitstatus": int(exitstatus)}
        if env is not None:
            extra.update(env.describe())
        timer.write(settings.artifacts_dir / "timings.json", extra)


def _progress_printer(config: pytest.Config) -> Any:
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
