"""`egress-e2e versions --check-latest` against a local HTTP server standing in for GitHub."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from egress_e2e import cli
from egress_e2e.core.localproc import LOOPBACK, free_port, serving
from egress_e2e.infra import versions


class _Releases(BaseHTTPRequestHandler):
    status = 200
    body = b"[]"

    def do_GET(self) -> None:
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.server.body)  # type: ignore[attr-defined]

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def github() -> Iterator[ThreadingHTTPServer]:
    with serving(ThreadingHTTPServer((LOOPBACK, 0), _Releases)) as server:
        yield server


def serve(server: ThreadingHTTPServer, payload: object, status: int = 200) -> str:
    server.status = status  # type: ignore[attr-defined]
    server.body = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload  # type: ignore[attr-defined]
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}/repos/istio/istio/releases"


def check(capsys: pytest.CaptureFixture[str], url: str) -> tuple[int, str, str]:
    code = cli.main(["versions", "--check-latest", "--releases-url", url, "--timeout", "5"])
    out, err = capsys.readouterr()
    return code, out, err


def pinned() -> list[str]:
    return sorted(versions.load(versions.DEFAULT_PATH).releases)


def test_newer_patch_and_minor_are_reported(
    github: ThreadingHTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    newest = max(pinned(), key=lambda v: tuple(int(p) for p in v.split(".")))
    major, minor, patch = (int(p) for p in newest.split("."))
    newer_patch = f"{major}.{minor}.{patch + 1}"
    new_minor = f"{major}.{minor + 1}.0"
    url = serve(github, [
        {"tag_name": newer_patch, "draft": False, "prerelease": False},
        {"tag_name": new_minor, "draft": False, "prerelease": False},
        {"tag_name": f"{major}.{minor + 1}.1", "draft": True, "prerelease": False},
        {"tag_name": f"{major}.{minor + 2}.0-rc.0", "draft": False, "prerelease": True},
    ])
    code, out, err = check(capsys, url)
    assert code == 1, err
    assert out.splitlines() == [
        f"Istio {major}.{minor}: {newer_patch} is out; pinned {newest}",
        f"Istio {major}.{minor + 1}: {new_minor} is out and not pinned (a new minor)",
        "add the release to versions.toml ([istio.releases]) and run 'make pin'",
    ]


def test_current_pins_exit_zero(
    github: ThreadingHTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = serve(github, [{"tag_name": v} for v in pinned()])
    code, out, _ = check(capsys, url)
    assert code == 0
    assert out.startswith("Istio pins are current")


def test_unreachable_host_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://{LOOPBACK}:{free_port()}/releases"  # nothing listens there
    code, out, err = check(capsys, url)
    assert code == 1 and out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"egress-e2e: cannot check for newer Istio releases: {url} unreachable")


@pytest.mark.parametrize(("payload", "status", "says"), [
    ({"message": "rate limited"}, 403, "answered HTTP 403, expected 200"),
    (b"<html>", 200, "sent no JSON"),
    ({"message": "Not Found"}, 200, "sent a dict, expected a list of releases"),
])
def test_bad_answers_are_one_line(
    github: ThreadingHTTPServer, capsys: pytest.CaptureFixture[str],
    payload: object, status: int, says: str,
) -> None:
    code, _, err = check(capsys, serve(github, payload, status))
    assert code == 1
    assert err.count("\n") == 1 and says in err
