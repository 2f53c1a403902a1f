"""Finding the engine as docker does (DOCKER_HOST, the current context, the default socket, then
reported fallbacks), and the no-Docker path: `egress-e2e preflight` and `make e2e` stop in one
line, non-zero, fast.

A real Unix socket server plays the Docker engine's /_ping endpoint; docker contexts are real
config directories written as the docker CLI writes them.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from egress_e2e.core.errors import DockerUnavailable
from egress_e2e.infra.docker import EngineAddress, find_engine, ping, require_engine, use_engine

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
                request = conn.recv(1024)
                # Only the engine's ping is answered OK: a client asking anything else fails.
                ok = request.startswith(b"GET /_ping ")
                conn.sendall(replies[0] if ok else b"HTTP/1.1 404 Not Found\r\n\r\n")

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


def test_docker_host_from_environment(tmp_path: Path) -> None:
    home = {"HOME": str(tmp_path)}
    assert EngineAddress.from_env(home).url == "unix:///var/run/docker.sock"
    assert EngineAddress.from_env({**home, "DOCKER_HOST": "tcp://h:1"}).url == "tcp://h:1"


def write_context(config_dir: Path, name: str, host: str, *, current: bool = True) -> Path:
    """A docker context as `docker context create NAME --docker host=HOST` stores it."""
    meta = config_dir / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps(
        {"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host,
                                                                "SkipTLSVerify": False}}}))
    if current:
        (config_dir / "config.json").write_text(json.dumps({"auths": {}, "currentContext": name}))
    return meta / "meta.json"


def context_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment with no DOCKER_HOST and docker's config in tmp_path/docker-config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(HOME=str(tmp_path), DOCKER_CONFIG=str(tmp_path / "docker-config"),
               XDG_RUNTIME_DIR=str(tmp_path / "run"), **extra)
    (tmp_path / "docker-config").mkdir(exist_ok=True)
    return env


def test_current_context_in_config_json_is_followed(
        tmp_path: Path, engine_socket: tuple[Path, list[bytes]]) -> None:
    path, _ = engine_socket
    env = context_env(tmp_path)
    write_context(tmp_path / "docker-config", "desktop-linux", f"unix://{path}")
    found = find_engine(env)
    assert found == EngineAddress(f"unix://{path}", "docker context 'desktop-linux'")
    use_engine(found, env)
    assert env["DOCKER_HOST"] == f"unix://{path}"  # kind and testcontainers follow it


def test_docker_context_variable_wins_over_config_json(
        tmp_path: Path, engine_socket: tuple[Path, list[bytes]]) -> None:
    path, _ = engine_socket
    config = tmp_path / "docker-config"
    env = context_env(tmp_path, DOCKER_CONTEXT="colima")
    write_context(config, "desktop-linux", f"unix://{tmp_path}/gone.sock")
    write_context(config, "colima", f"unix://{path}", current=False)
    assert find_engine(env).source == "docker context 'colima'"


def test_docker_host_wins_over_a_context_and_is_not_rewritten(
        tmp_path: Path, engine_socket: tuple[Path, list[bytes]]) -> None:
    path, _ = engine_socket
    env = context_env(tmp_path, DOCKER_HOST=f"unix://{path}")
    write_context(tmp_path / "docker-config", "elsewhere", f"unix://{tmp_path}/gone.sock")
    found = find_engine(env)
    assert found.source == "DOCKER_HOST"
    use_engine(found, env)
    assert env["DOCKER_HOST"] == f"unix://{path}"


def test_a_context_whose_engine_is_down_is_not_replaced_by_a_fallback(tmp_path: Path) -> None:
    """kind would use the context's engine: so does the preflight, and says so."""
    env = context_env(tmp_path)
    write_context(tmp_path / "docker-config", "rootless", f"unix://{tmp_path}/down.sock")
    with pytest.raises(DockerUnavailable) as info:
        find_engine(env)
    message = str(info.value)
    assert f"unix://{tmp_path}/down.sock (docker context 'rootless': No such file" in message
    assert "/var/run/docker.sock" not in message


def test_a_context_without_metadata_names_the_file_looked_for(tmp_path: Path) -> None:
    env = context_env(tmp_path, DOCKER_CONTEXT="nowhere")
    digest = hashlib.sha256(b"nowhere").hexdigest()
    with pytest.raises(DockerUnavailable, match=rf"docker context 'nowhere' from DOCKER_CONTEXT: "
                                                rf"no endpoint in .*/{digest}/meta\.json"):
        find_engine(env)


def _default_socket_answers() -> bool:
    return ping(EngineAddress("unix:///var/run/docker.sock")) is None


def test_fallback_socket_is_used_and_named_when_nothing_else_answers(
        tmp_path: Path, engine_socket: tuple[Path, list[bytes]]) -> None:
    if _default_socket_answers():
        pytest.skip("a Docker engine answers at /var/run/docker.sock, which comes first")
    path, _ = engine_socket
    env = context_env(tmp_path)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "docker.sock").symlink_to(path)
    found = find_engine(env)
    assert found == EngineAddress(f"unix://{tmp_path}/run/docker.sock", "rootless Docker")
    use_engine(found, env)
    assert env["DOCKER_HOST"] == found.url


def test_refusal_names_every_place_it_looked(tmp_path: Path) -> None:
    if _default_socket_answers():
        pytest.skip("a Docker engine answers at /var/run/docker.sock")
    env = context_env(tmp_path)
    with pytest.raises(DockerUnavailable) as info:
        find_engine(env)
    message = str(info.value)
    assert message.startswith("Docker engine not reachable; looked at DOCKER_HOST (unset); "
                              f"docker context (none in {tmp_path}/docker-config/config.json); ")
    for place in ("/var/run/docker.sock (the default socket)",
                  f"{tmp_path}/run/docker.sock (rootless Docker)",
                  f"{tmp_path}/.docker/desktop/docker.sock (Docker Desktop for Linux)",
                  f"{tmp_path}/.colima/default/docker.sock (Colima)",
                  f"{tmp_path}/.orbstack/run/docker.sock (OrbStack)",
                  f"{tmp_path}/run/podman/podman.sock (Podman)"):
        assert place in message


def test_cli_preflight_passes_with_only_a_context(
        tmp_path: Path, engine_socket: tuple[Path, list[bytes]]) -> None:
    path, _ = engine_socket
    env = context_env(tmp_path)
    write_context(tmp_path / "docker-config", "standin", f"unix://{path}")
    done = subprocess.run([sys.executable, "-m", "egress_e2e", "preflight"],
                          capture_output=True, text=True, env=env, timeout=30, check=False)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"egress-e2e: Docker engine at unix://{path} (docker context 'standin')\n"


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
    assert len(lines) == 1 and lines[0].startswith(
        f"egress-e2e: Docker engine not reachable; looked at unix://{tmp_path}/no-engine.sock "
        "(DOCKER_HOST: No such file or directory)")


def test_make_e2e_stops_in_one_line_without_docker(tmp_path: Path) -> None:
    """`make e2e` on a machine without Docker: one line naming Docker, non-zero, no traceback.

    make adds its own `make: *** ... Error 1` line; everything the harness prints is one line.
    """
    proc = subprocess.run(["make", "--no-print-directory", "e2e", f"PYTHON={sys.executable}",
                           f"VENV={sys.prefix}"], cwd=REPO,
                          capture_output=True, text=True, env=_no_docker_env(tmp_path),
                          timeout=300, check=False)
    assert proc.returncode != 0
    ours = [line for line in (proc.stdout + proc.stderr).splitlines()
            if line.strip() and not line.startswith("make")]
    assert ours == [ours[0]] and "Docker engine not reachable" in ours[0], ours
    assert "Traceback" not in proc.stdout + proc.stderr


def test_testcontainers_sent_elsewhere_is_refused_in_one_line(
        tmp_path: Path, engine_socket: tuple[Path, list[bytes]]) -> None:
    """testcontainers prefers tc.host to DOCKER_HOST: the fakes would miss kind's network."""
    path, _ = engine_socket
    env = context_env(tmp_path, DOCKER_HOST=f"unix://{path}")
    (tmp_path / ".testcontainers.properties").write_text("tc.host=tcp://cloud.example:2375\n")
    with pytest.raises(DockerUnavailable, match=r"sets tc\.host=tcp://cloud\.example:2375, so the "
                                                r"fake internet would start on another engine"):
        require_engine(environ=env)
    (tmp_path / ".testcontainers.properties").write_text(f"tc.host=unix://{path}\n")
    assert require_engine(environ=env).url == f"unix://{path}"  # the same engine: fine
