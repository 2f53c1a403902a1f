"""Is there a Docker engine to talk to? Answered in about a second, without the docker CLI."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from urllib.parse import urlparse

from egress_e2e.core.errors import DockerUnavailable

DEFAULT_HOST = "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class EngineAddress:
    url: str

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> EngineAddress:
        env = os.environ if environ is None else environ
        return cls(env.get("DOCKER_HOST") or DEFAULT_HOST)


def ping(address: EngineAddress, timeout: float = 2.0) -> str | None:
    """Return None when the engine answers ``GET /_ping`` with OK, else why it did not."""
    parsed = urlparse(address.url)
    try:
        if parsed.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(parsed.path)
        elif parsed.scheme in {"tcp", "http"}:
            sock = socket.create_connection((parsed.hostname or "localhost", parsed.port or 2375),
                                            timeout=timeout)
        else:
            return f"unsupported DOCKER_HOST scheme {parsed.scheme!r}"
    except OSError as exc:
        return exc.strerror or str(exc)
    with sock:
        try:
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = sock.recv(4096).decode(errors="replace")
        except OSError as exc:
            return exc.strerror or str(exc)
    status = reply.split("\r\n", 1)[0]
    return None if " 200 " in f"{status} " else f"unexpected answer {status!r}"


def require_engine(address: EngineAddress | None = None) -> None:
    """Raise DockerUnavailable with one line naming the address when no engine answers."""
    where = address or EngineAddress.from_env()
    problem = ping(where)
    if problem is not None:
        raise DockerUnavailable(
            f"Docker engine not reachable at {where.url} ({problem}); the e2e suite needs "
            "Docker for kind. 'make test' runs the offline suite."
        )
