"""The wait helpers against a real local HTTP server whose answers change over time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from egress_e2e.core import waits
from egress_e2e.core.errors import EgressE2EError, WaitTimeout
from egress_e2e.core.localproc import serving
from egress_e2e.core.timeouts import Timeouts

FAST = 0.02  # poll interval for tests; production default is 1 s


@dataclass(frozen=True)
class Answer:
    status: int
    body: str


class ChangingServer:
    """Answers request n (from 0) with ``script(n, seconds since start)``."""

    def __init__(self, script: Callable[[int, float], Answer]) -> None:
        self.script = script
        self.count = 0
        self.started = time.monotonic()
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server.lock:
                    number = server.count
                    server.count += 1
                answer = server.script(number, time.monotonic() - server.started)
                data = answer.body.encode()
                self.send_response(answer.status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def __enter__(self) -> ChangingServer:
        self._serving = serving(self.httpd)
        self._serving.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._serving.__exit__(None, None, None)


# One client for the module: building one per request costs ~0.1 s (TLS context).
_CLIENT = httpx.Client(timeout=2, trust_env=False)


def _observe(url: str) -> Callable[[], Answer]:
    def observe() -> Answer:
        try:
            response = _CLIENT.get(url)
        except httpx.HTTPError as exc:
            raise EgressE2EError(f"GET {url} failed: {exc}") from exc
        return Answer(response.status_code, response.text)
    return observe


def _is_ok(answer: Answer) -> list[str]:
    return [] if answer.status == 200 else [f"status {answer.status}, expected 200"]


def _show(answer: Answer) -> str:
    return f"HTTP {answer.status} {answer.body!r}"


def test_fails_then_succeeds_over_time() -> None:
    def script(_: int, elapsed: float) -> Answer:
        return Answer(200, "ok") if elapsed > 0.3 else Answer(503, "no healthy upstream")

    with ChangingServer(script) as server:
        result = waits.eventually(_observe(server.url), _is_ok, what="GET /", timeout=10,
                                  interval=FAST, describe=_show)
        assert result == Answer(200, "ok")
        assert time.monotonic() - server.started > 0.3
        assert server.count >= 4


def test_succeeds_then_flaps_needs_three_in_a_row() -> None:
    statuses = [200, 200, 503, 200, 503, 200, 200, 200, 404]

    def script(number: int, _: float) -> Answer:
        return Answer(statuses[min(number, len(statuses) - 1)], f"answer {number}")

    with ChangingServer(script) as server:
        result = waits.eventually(_observe(server.url), _is_ok, what="GET /", timeout=10,
                                  interval=FAST, describe=_show)
    # The first run of three successes ends at answer 7.
    assert result == Answer(200, "answer 7")
    assert server.count == 8


def test_custom_consecutive_count() -> None:
    with ChangingServer(lambda n, _: Answer(200, str(n))) as server:
        assert waits.eventually(_observe(server.url), _is_ok, what="GET /", timeout=5,
                                consecutive=1, interval=FAST) == Answer(200, "0")
    with pytest.raises(ValueError, match="consecutive"):
        waits.eventually(lambda: 1, lambda _: [], what="x", timeout=1, consecutive=0)


def test_flapping_forever_gives_up_with_the_last_observation() -> None:
    def script(number: int, _: float) -> Answer:
        # ok, ok, fail, ok, ok, fail, ...: never three in a row.
        return Answer(503, "upstream connect error") if number % 3 == 2 else Answer(200, "ok")

    with ChangingServer(script) as server, pytest.raises(WaitTimeout) as caught:
        waits.eventually(_observe(server.url), _is_ok, what="gateway route for httpbin.org",
                         timeout=0.5, interval=FAST, describe=_show)
    message = str(caught.value)
    assert message.startswith("gateway route for httpbin.org: did not hold 3 times in a row "
                              "within 0.5 s (")
    assert "longest run 2" in message
    assert "last observation: HTTP " in message
    assert ("last mismatch: status 503, expected 200" in message
            or "times in a row when time ran out" in message)
    assert "\n" not in message


def test_never_succeeds_reports_status_and_body() -> None:
    with ChangingServer(lambda n, _: Answer(502, "")) as server, \
            pytest.raises(WaitTimeout) as caught:
        waits.eventually(_observe(server.url), _is_ok, what="GET /", timeout=0.2, interval=FAST,
                         describe=_show)
    assert str(caught.value).endswith(
        "longest run 0); last mismatch: status 502, expected 200; last observation: HTTP 502 ''")


def test_unreachable_server_reports_the_failing_attempt() -> None:
    with ChangingServer(lambda n, _: Answer(200, "")) as server:
        url = server.url
    with pytest.raises(WaitTimeout, match=r"last attempt failed: GET http://127\.0\.0\.1:\d+/ "
                                          r"failed: "):
        waits.eventually(_observe(url), _is_ok, what="GET /", timeout=0.2, interval=FAST)


def test_stays_absent_holds_over_the_settle_window() -> None:
    with ChangingServer(lambda n, _: Answer(200, "")) as server:
        started = time.monotonic()
        last = waits.stays_absent(
            _observe(server.url), lambda a: ["CONNECT line"] if "CONNECT" in a.body else [],
            what="CONNECT in proxy log", settle=0.3, interval=FAST)
        assert time.monotonic() - started >= 0.3
        assert last == Answer(200, "")
        assert server.count >= 3


def test_stays_absent_fails_when_the_thing_appears() -> None:
    line = '[2026-11-21T10:00:00.000Z] 10.0.0.1:4000 "CONNECT 10.0.0.9:443 - HTTP/1.1" - 200 - DC'

    def script(number: int, _: float) -> Answer:
        return Answer(200, line if number >= 3 else "")

    with ChangingServer(script) as server, pytest.raises(WaitTimeout) as caught:
        waits.stays_absent(_observe(server.url),
                           lambda a: [a.body] if "CONNECT" in a.body else [],
                           what="CONNECT in proxy log", settle=10, interval=FAST, describe=_show)
    message = str(caught.value)
    assert message.startswith("CONNECT in proxy log: expected none during the 10 s settle "
                              "window, but after ")
    assert f"found: {line}" in message
    assert server.count == 4


def test_timeouts_scale_budgets_not_the_poll_interval() -> None:
    base = Timeouts()
    slow = base.scaled(2.5)
    assert slow.converge == base.converge * 2.5
    assert slow.settle == base.settle * 2.5
    assert slow.probe == base.probe * 2.5
    assert slow.interval == base.interval
    with pytest.raises(ValueError, match="positive"):
        base.scaled(0)


def test_latest_returns_early_or_the_last_observation_without_raising() -> None:
    def script(number: int, _: float) -> Answer:
        return Answer(200 if number >= 2 else 503, str(number))

    with ChangingServer(script) as server:
        assert waits.latest(_observe(server.url), _is_ok, timeout=5, interval=FAST) == (
            Answer(200, "2"))
        started = time.monotonic()
        last = waits.latest(_observe(server.url), lambda a: ["never"], timeout=0.2,
                            interval=FAST)
        assert time.monotonic() - started >= 0.2
        assert last.body == str(server.count - 1)
