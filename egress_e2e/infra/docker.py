"""Is there a Docker engine to talk to, and where? Answered in about a second, without the docker
CLI, looking where the docker CLI (and so kind) and testcontainers look:

1. ``DOCKER_HOST``;
2. the current docker context: ``DOCKER_CONTEXT``, else ``currentContext`` in
   ``$DOCKER_CONFIG/config.json`` (default ``~/.docker``), whose endpoint is
   ``Endpoints.docker.Host`` in ``contexts/meta/<sha256 of the name>/meta.json`` there;
3. the default socket, ``/var/run/docker.sock``;
4. only when none of those answers, the sockets of rootless Docker, Docker Desktop, Colima,
   OrbStack and Podman, each reported by name when it is the one used.

The address found is exported as ``DOCKER_HOST`` for the process when it did not come from
``DOCKER_HOST`` itself, so kind, the docker CLI, docker-py and testcontainers use the same engine.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from egress_e2e.core.errors import DockerUnavailable

DEFAULT_HOST = "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class EngineAddress:
    url: str
    # Where the address came from, for messages: "DOCKER_HOST", "docker context 'colima'", ...
    source: str = "DOCKER_HOST"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EngineAddress:
        """The address the docker CLI would use, without probing fallbacks."""
        return candidates(environ)[0]


@dataclass(frozen=True)
class _Lookup:
    addresses: tuple[EngineAddress, ...]
    # True when the address is the one docker itself would use (DOCKER_HOST or a context):
    # no fallback is tried, because kind would not try one either.
    decisive: bool
    notes: tuple[str, ...] = ()


def _config_dir(env: Mapping[str, str]) -> Path:
    given = env.get("DOCKER_CONFIG")
    return Path(given).expanduser() if given else Path(env.get("HOME") or Path.home()) / ".docker"


def _lookup(environ: Mapping[str, str] | None) -> _Lookup:
    env = os.environ if environ is None else environ
    if env.get("DOCKER_HOST"):
        return _Lookup((EngineAddress(env["DOCKER_HOST"], "DOCKER_HOST"),), decisive=True)
    config_dir = _config_dir(env)
    notes = ["DOCKER_HOST (unset)"]
    name, where = env.get("DOCKER_CONTEXT", ""), "DOCKER_CONTEXT"
    if not name:
        where = str(config_dir / "config.json")
        try:
            config = json.loads((config_dir / "config.json").read_text())
        except FileNotFoundError:
            config = {}
        except (OSError, ValueError) as exc:
            notes.append(f"{where} (unreadable: {exc})")
            config = {}
        name = str(config.get("currentContext") or "") if isinstance(config, dict) else ""
    if name and name != "default":
        # The docker CLI stores a context under the sha256 of its name.
        meta = config_dir / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
        meta /= "meta.json"
        try:
            host = json.loads(meta.read_text())["Endpoints"]["docker"]["Host"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            reason = ("no such file" if isinstance(exc, FileNotFoundError)
                      else "no Endpoints.docker.Host" if isinstance(exc, KeyError | TypeError)
                      else str(exc))
            return _Lookup((), decisive=True, notes=(
                *notes, f"docker context {name!r} from {where}: no endpoint in {meta} ({reason})"))
        return _Lookup((EngineAddress(str(host), f"docker context {name!r}"),), decisive=True)
    notes.append(f"docker context (none in {where})" if not name
                 else "docker context 'default' (the default socket)")
    home = Path(env.get("HOME") or Path.home())
    runtime = env.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    fallbacks = (
        (DEFAULT_HOST, "the default socket"),
        (f"unix://{runtime}/docker.sock", "rootless Docker"),
        (f"unix://{home}/.docker/run/docker.sock", "Docker Desktop"),
        (f"unix://{home}/.docker/desktop/docker.sock", "Docker Desktop for Linux"),
        (f"unix://{home}/.colima/default/docker.sock", "Colima"),
        (f"unix://{home}/.orbstack/run/docker.sock", "OrbStack"),
        (f"unix://{runtime}/podman/podman.sock", "Podman"),
    )
    return _Lookup(tuple(EngineAddress(url, source) for url, source in fallbacks),
                   decisive=False, notes=tuple(notes))


def candidates(environ: Mapping[str, str] | None = None) -> tuple[EngineAddress, ...]:
    """Where to look, in order (the default socket when a named context has no endpoint)."""
    found = _lookup(environ).addresses
    return found or (EngineAddress(DEFAULT_HOST, "the default socket"),)


def ping(address: EngineAddress, timeout: float = 2.0) -> str | None:
    """Return None when the engine answers ``GET /_ping`` with OK, else why it did not."""
    parsed = urlparse(address.url)
    try:
        if parsed.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(parsed.path)
            except OSError:
                sock.close()
                raise
        elif parsed.scheme in {"tcp", "http"}:
            sock = socket.create_connection((parsed.hostname or "localhost", parsed.port or 2375),
                                            timeout=timeout)
        else:
            return f"unsupported scheme {parsed.scheme!r} (use a unix:// or tcp:// address)"
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


def find_engine(environ: Mapping[str, str] | None = None) -> EngineAddress:
    """The first address that answers, looking as docker does; DockerUnavailable names every
    place looked at when none does."""
    lookup = _lookup(environ)
    tried: list[str] = list(lookup.notes)
    absent: list[str] = []
    for address in lookup.addresses:
        problem = ping(address)
        if problem is None:
            return address
        if problem == os.strerror(errno.ENOENT) and not lookup.decisive:
            absent.append(f"{urlparse(address.url).path} ({address.source})")
        else:
            tried.append(f"{address.url} ({address.source}: {problem})")
    if absent:
        tried.append(f"no socket at {', '.join(absent)}")
    raise DockerUnavailable(
        f"Docker engine not reachable; looked at {'; '.join(tried)}. The e2e suite needs Docker "
        "for kind ('make test' runs the offline suite)."
    )


def use_engine(address: EngineAddress, environ: MutableMapping[str, str] | None = None) -> None:
    """Point kind, the docker CLI, docker-py and testcontainers (this process and its children)
    at ``address``, unless DOCKER_HOST already says so."""
    env = os.environ if environ is None else environ
    if address.source != "DOCKER_HOST":
        env["DOCKER_HOST"] = address.url


def testcontainers_host(environ: Mapping[str, str] | None = None) -> str | None:
    """``tc.host`` from ``~/.testcontainers.properties``, which testcontainers prefers even to
    DOCKER_HOST (Testcontainers Desktop / Cloud write it)."""
    env = os.environ if environ is None else environ
    path = Path(env.get("HOME") or Path.home()) / ".testcontainers.properties"
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.strip() == "tc.host":
            return value.strip() or None
    return None


def require_engine(address: EngineAddress | None = None,
                   environ: MutableMapping[str, str] | None = None) -> EngineAddress:
    """Find the engine (or check ``address``), export it for the session, and return it."""
    if address is None:
        address = find_engine(environ)
        tc_host = testcontainers_host(environ)
        if tc_host is not None and tc_host != address.url:
            # kind's cluster and the fakes' containers must share the engine's `kind` network.
            raise DockerUnavailable(
                f"~/.testcontainers.properties sets tc.host={tc_host}, so the fake internet "
                f"would start on another engine than kind's ({address.url}, {address.source}); "
                "remove that line or point DOCKER_HOST at it")
        use_engine(address, environ)
        return address
    problem = ping(address)
    if problem is not None:
        raise DockerUnavailable(
            f"Docker engine not reachable at {address.url} ({address.source}: {problem}); the "
            "e2e suite needs Docker for kind ('make test' runs the offline suite)."
        )
    return address
