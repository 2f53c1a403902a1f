"""Local background processes for the offline fakes and tests: start, wait until a port answers,
always stop. Used for nginx, Envoy and httpbin on loopback.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from egress_e2e.core.errors import EgressE2EError, format_command, tail_lines
from egress_e2e.core.waits import until

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port the kernel says is free now (a small race remains; callers retry on bind)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
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
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=grace)


def start(name: str, argv: Sequence[str], log_path: Path,
          env: Mapping[str, str] | None = None, cwd: Path | None = None) -> LocalProcess:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        try:
            popen = subprocess.Popen(
                [str(a) for a in argv], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=dict(env) if env is not None else None,
                cwd=cwd, start_new_session=True,
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
