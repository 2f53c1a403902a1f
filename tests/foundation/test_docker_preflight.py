"""The no-Docker path: `egress-e2e preflight` and `make e2e` stop in one line, non-zero, fast.

A real Unix socket server plays the Docker engine's /_ping endpoint for the positive case.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from egress_e2e.core.errors import DockerUnavailable
from egress_e2e.infra.docker import EngineAddress, ping, require_engine

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def engine_socket(tmp_path: Path) -> Iterator[tuple[Path, list[bytes]]]:
    """A Unix socket answering like the Docker engine; the reply is set by the test."""
    path = tmp_path / "docker.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)
    replies = [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"]

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(1024)
                conn.sendall(replies[0])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, replies
    server.close()


def test_ping_answers_ok_from_a_live_engine(engine_socket: tuple[Path, list[bytes]]) -> None:
    path, _ = engine_socket
    assert ping(EngineAddress(f"unix://{path}")) is None
    require_engine(EngineAddress(f"unix://{path}"))


def test_engine_that_answers_an_error_is_not_usable(
        engine_socket: tuple[Path, list[bytes]]) -> None:
    path, replies = engine_socket
    replies[0] = b"HTTP/1.1 500 Internal Server Error\r\n\r\n"
    with pytest.raises(DockerUnavailable, match=r"unexpected answer 'HTTP/1\.1 500"):
        require_engine(EngineAddress(f"unix://{path}"))


def test_missing_socket_names_the_address(tmp_path: Path) -> None:
    address = EngineAddress(f"unix://{tmp_path}/absent.sock")
    with pytest.raises(DockerUnavailable) as info:
        require_engine(address)
    assert str(info.value).startswith(f"Docker engine not reachable at unix://{tmp_path}/absent")
    assert "'make test' runs the offline suite" in str(info.value)


def test_tcp_host_that_refuses_is_reported() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    problem = ping(EngineAddress(f"tcp://127.0.0.1:{port}"))
    assert problem is not None and "refused" in problem.lower()


def test_docker_host_from_environment() -> None:
    assert EngineAddress.from_env({}).url == "unix:///var/run/docker.sock"
    assert EngineAddress.from_env({"DOCKER_HOST": "tcp://h:1"}).url == "tcp://h:1"


def _no_docker_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["DOCKER_HOST"] = f"unix://{tmp_path}/no-engine.sock"
    return env


def test_cli_preflight_prints_one_line_and_fails(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "egress_e2e", "preflight"],
                          capture_output=True, text=True, env=_no_docker_env(tmp_path),
                          timeout=30, check=False)
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("egress-e2e: Docker engine not reachable at")


def test_make_e2e_stops_in_one_line_without_docker(tmp_path: Path) -> None:
    """`make e2e` on a machine without Docker: one line naming Docker, non-zero, no traceback.

    make adds its own `make: *** ... Error 1` line; everything the harness prints is one line.
    """
    proc = subprocess.run(["make", "--no-print-directory", "e2e"], cwd=REPO,
                          capture_output=True, text=True, env=_no_docker_env(tmp_path),
                          timeout=300, check=False)
    assert proc.returncode != 0
    ours = [line for line in (proc.stdout + proc.stderr).splitlines()
            if line.strip() and not line.startswith("make")]
    assert ours == [ours[0]] and "Docker engine not reachable" in ours[0], ours
    assert "Traceback" not in proc.stdout + proc.stderr
