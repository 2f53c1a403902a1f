"""SIGTERM and SIGHUP end a session as Ctrl-C does: the running test's fixtures tear down (that
is where a scenario deletes its namespaces), sessionfinish runs (where the fakes, the DNS edit
and the cluster go), and nothing after it starts. Run for real: the test signals its own
pytest process."""

from __future__ import annotations

import pytest

CONFTEST = """
from pathlib import Path

from egress_e2e.running.plugin import interrupt_on_termination


def pytest_configure(config):
    config.add_cleanup(interrupt_on_termination())


def pytest_sessionfinish(session, exitstatus):
    Path("sessionfinish").write_text(str(int(exitstatus)))
"""

TESTS = """
import os
import signal
import time
from pathlib import Path

import pytest


@pytest.fixture
def namespace():
    yield
    Path("teardown").write_text("ran")


def test_signalled(namespace):
    os.kill(os.getpid(), signal.{name})
    time.sleep(30)  # the handler interrupts this


def test_after():
    Path("after").write_text("ran")
"""


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_termination_signal_cleans_up_like_ctrl_c(pytester: pytest.Pytester, name: str) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_signal=TESTS.replace("{name}", name))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert f"KeyboardInterrupt: {name} received" in result.stdout.str()
    assert (pytester.path / "teardown").read_text() == "ran"
    assert (pytester.path / "sessionfinish").read_text() == str(int(pytest.ExitCode.INTERRUPTED))
    assert not (pytester.path / "after").exists()
