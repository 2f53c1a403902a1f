"""The real local fake internet (nginx, httpbin under waitress, Envoy), started once per test
process, and a small curl runner that speaks to it with real TLS."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from egress_e2e.core.proc import run
from egress_e2e.evidence.echo import Headers, parse_headers_body
from egress_e2e.fakes import local

CURL = "/usr/bin/curl"


@pytest.fixture(scope="session")
def fakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local.LocalFakes]:
    with local.start(tmp_path_factory.mktemp("fake-internet")) as running:
        yield running


@dataclass(frozen=True)
class CurlResult:
    exit_code: int
    status: int
    headers: Headers   # response headers
    body: str
    stderr: str

    def echoed(self) -> Headers:
        """The request headers httpbin saw (its /headers answer)."""
        return parse_headers_body(self.body)


def curl(fakes: local.LocalFakes, url: str, *args: str) -> CurlResult:
    """curl ``url`` with every fake name resolved to loopback; never raises for curl's exit."""
    done = run([CURL, "-sS", "--max-time", "10", "-D", "-", *fakes.curl_resolve(), *args, url],
               check=False, timeout=20)
    status, headers, body = _split(done.stdout)
    return CurlResult(done.returncode, status, headers, body, done.stderr)


def _split(stdout: str) -> tuple[int, Headers, str]:
    """Split ``-D -`` output; a CONNECT's own ``200 Connection established`` block comes first,
    the last header block is the origin's. (proc.run reads text, so CRLF arrives as LF.)"""
    rest = stdout
    status, pairs = 0, []
    while rest.startswith("HTTP/"):
        head, _, rest = rest.partition("\n\n")
        lines = head.splitlines()
        status = int(lines[0].split()[1])
        pairs = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:]
                 if ":" in line]
    return status, Headers((name, value) for name, value in pairs), rest


Curl = Callable[..., CurlResult]


@pytest.fixture
def fake_curl(fakes: local.LocalFakes) -> Curl:
    """``fake_curl(url, *curl_args)`` against the session's fakes."""
    def call(url: str, *args: str) -> CurlResult:
        return curl(fakes, url, *args)
    return call


@pytest.fixture
def trust(fakes: local.LocalFakes) -> list[str]:
    """curl arguments that trust the per-run CA."""
    return ["--cacert", str(fakes.ca_cert)]


def cert_args(cert: Path, key: Path) -> list[str]:
    return ["--cert", str(cert), "--key", str(key)]


@pytest.fixture
def client_cert(fakes: local.LocalFakes) -> list[str]:
    """curl arguments presenting the per-run client certificate."""
    return cert_args(fakes.client_cert, fakes.client_key)
