"""The subprocess wrapper's failures, from real subprocesses: command, exit code, stderr tail."""

from __future__ import annotations

import sys

import pytest

from egress_e2e.core import proc
from egress_e2e.core.errors import CommandFailed, ConfigError


def test_non_zero_exit_names_command_code_and_stderr_tail() -> None:
    script = "; ".join([*(f"echo line{i} >&2" for i in range(1, 9)), "echo out", "exit 3"])
    with pytest.raises(CommandFailed) as caught:
        proc.run(["sh", "-c", script], note="creating kind cluster x")
    error = caught.value
    message = str(error)
    assert error.returncode == 3
    assert message.startswith("command exited 3: sh -c ")
    assert "(creating kind cluster x)" in message
    # The tail: the last lines of stderr, not the first ones.
    tail = message.split("output tail: ", 1)[1]
    assert tail == "line4 | line5 | line6 | line7 | line8"
    assert "\n" not in message
    assert error.stdout.strip() == "out"


def test_stdout_is_the_tail_when_stderr_is_empty() -> None:
    with pytest.raises(CommandFailed, match=r"output tail: only stdout"):
        proc.run(["sh", "-c", "echo only stdout; exit 1"])


def test_timeout_is_reported_with_its_limit() -> None:
    with pytest.raises(CommandFailed) as caught:
        proc.run([sys.executable, "-c", "import time; print('started', flush=True); "
                  "time.sleep(30)"], timeout=0.5)
    assert caught.value.returncode is None
    assert str(caught.value).startswith("command timed out: ")
    assert "limit 0.5 s" in str(caught.value)


def test_missing_executable_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="executable not found: /nonexistent/kind"):
        proc.run(["/nonexistent/kind", "get", "clusters"])


def test_check_false_returns_the_code() -> None:
    done = proc.run(["sh", "-c", "echo 'Warning [IST0102] x'; exit 79"], check=False)
    assert done.returncode == 79 and "IST0102" in done.stdout
