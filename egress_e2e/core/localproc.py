"""Local background processes for the offline fakes and tests: start, wait until a port answers,
always stop. Used for nginx, Envoy and httpbin on loopback.

Each process starts in a session (so a process group) of its own, which ``stop`` signals as a
whole (a child it forked goes with it), and which a terminal's Ctrl-C does not reach before
the harness stops it. On Linux each also gets a parent-death signal: SIGKILL when the thread that
started it dies, so a SIGKILL'd pytest worker leaves no fake behind. ``start`` must therefore be
called from a thread that lives as long as the process is wanted (the main thread, in practice).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from egress_e2e.core.errors import EgressE2EError, format_command, tail_lines
from egress_e2e.core.waits import until

LOOPBACK = "127.0.0.1"


# Every port this process has handed out: the kernel may give a just-closed port again, and two
# listens of one config on one port fail nginx as a "duplicate default server" and Envoy as
# "address in use", neither of which a retry on bind catches in time.
_HANDED_OUT: set[int] = set()


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port the kernel says is free now and this process has not handed out before (a
    small race with other processes remains; callers retry on bind)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    while True:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port: int = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class LocalProcess:
    """A running background process whose stdout/stderr go to one log file."""

    name: str
    argv: tuple[str, ...]
    log_path: Path
    popen: subprocess.Popen[bytes] = field(repr=False)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_port(self, port: int, host: str = LOOPBACK, timeout: float = 15.0) -> None:
        """Poll until ``host:port`` accepts connections; fail early if the process died."""
        def listening() -> bool:
            if self.popen.poll() is not None:
                raise EgressE2EError(
                    f"{self.name} exited with {self.popen.returncode} before listening on "
                    f"{host}:{port}; log tail: {tail_lines(self.log_text(), lines=8)}"
                )
            return port_open(host, port)

        until(listening, bool, what=f"{self.name} did not listen on {host}:{port}",
              timeout=timeout, interval=0.05,
              describe=lambda _: f"log tail: {tail_lines(self.log_text(), lines=8)}")

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the process's group, then SIGKILL it after ``grace`` seconds."""
        if self.popen.poll() is None:
            _signal_group(self.popen, signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _signal_group(self.popen, signal.SIGKILL)
                self.popen.wait(timeout=grace)
        # A child the leader forked and left behind must not outlive it either.
        _signal_group(self.popen, signal.SIGKILL)


def _signal_group(popen: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, sig)  # the leader's pid is the group id (start_new_session)


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _parent_death_signal() -> Callable[[], None] | None:
    """On Linux, a preexec_fn that has the kernel SIGKILL the child when this thread dies.

    preexec_fn runs between fork and exec, which is unsafe if it needs a lock another thread
    held at fork time; this one only calls prctl(2) (looked up before the fork) and getppid(2),
    taking no lock of its own (no import, no logging). The stdlib has no other way to set it.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                      ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()
    kill = int(signal.SIGKILL)

    def set_parent_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, kill, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: nobody will signal us
            os._exit(1)

    return set_parent_death_signal


def start(name: str, argv: Sequence[str], log_path: Path,
          env: Mapping[str, str] | None = None, cwd: Path | None = None) -> LocalProcess:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        try:
            popen = subprocess.Popen(
                [str(a) for a in argv], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=dict(env) if env is not None else None,
                cwd=cwd, start_new_session=True,
                preexec_fn=_parent_death_signal(),  # noqa: PLW1509  # see its docstring
            )
        except FileNotFoundError as exc:
            raise EgressE2EError(f"cannot start {name}: executable not found: {argv[0]}") from exc
    return LocalProcess(name, tuple(str(a) for a in argv), log_path, popen)


@contextlib.contextmanager
def running(name: str, argv: Sequence[str], log_path: Path, *, port: int | None = None,
            host: str = LOOPBACK, env: Mapping[str, str] | None = None,
            cwd: Path | None = None, timeout: float = 15.0) -> Iterator[LocalProcess]:
    """Start a process, wait for its port (if given), and stop it however the block ends."""
    proc = start(name, argv, log_path, env=env, cwd=cwd)
    try:
        if port is not None:
            proc.wait_for_port(port, host=host, timeout=timeout)
        yield proc
    finally:
        proc.stop()


_Server = TypeVar("_Server", bound=socketserver.BaseServer)


@contextlib.contextmanager
def serving(server: _Server) -> Iterator[_Server]:
    """Serve ``server`` (an in-process HTTP stand-in: a release host, an echo) from a daemon
    thread for the block, and shut it down however the block ends."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def describe(proc: LocalProcess) -> str:
    return f"{proc.name}: {format_command(proc.argv)}"
