"""The curl argv a probe sends, and how its output is split (real curl where it can run)."""

from __future__ import annotations

from datetime import UTC, datetime

from egress_e2e.core import localproc
from egress_e2e.evidence import probe
from egress_e2e.scenario.model import Curl


def test_argv_for_app_level_mtls_probe() -> None:
    curl = Curl("https://external-app.mesh-external.test/", trust_fake_ca=True, client_cert=True,
                extra_args=("--http1.1",), timeout_s=7)
    prepared = probe.prepare(curl, request_id="rid-1", timeout_scale=2)
    argv = list(prepared.argv)
    write_out = argv[argv.index("--write-out") + 1]
    assert argv == [
        "curl", "-sS", "--max-time", "14", "--connect-timeout", "10",
        "-A", prepared.marker, "-H", "x-request-id: rid-1", "--write-out", write_out,
        "--cacert", "/etc/fake-internet/ca.crt",
        "--cert", "/etc/fake-internet/client.crt", "--key", "/etc/fake-internet/client.key",
        "--http1.1", "https://external-app.mesh-external.test/",
    ]
    assert write_out == (
        f"\n{prepared.separator}\n%{{json}}\n{prepared.separator}\n%{{header_json}}")
    assert prepared.marker.startswith(probe.MARKER_PREFIX)
    assert prepared.separator not in prepared.marker


def test_plain_probe_has_no_cert_flags_and_fresh_ids() -> None:
    first = probe.prepare(Curl("http://httpbin.org/headers"))
    second = probe.prepare(Curl("http://httpbin.org/headers"))
    assert "--cacert" not in first.argv and "--cert" not in first.argv
    assert first.request_id != second.request_id
    assert first.marker != second.marker and first.separator != second.separator
    assert first.argv[-1] == "http://httpbin.org/headers"
    assert first.argv[first.argv.index("--max-time") + 1] == "10"
    assert first.argv[first.argv.index("--connect-timeout") + 1] == "5"


def test_body_that_mimics_the_write_out_is_kept_whole() -> None:
    prepared = probe.prepare(Curl("http://h/"), request_id="r")
    marker = prepared.separator
    forged = "@@egress-e2e-0000000000000000@@"
    body = f'{{"x": "{forged}\\n{{}}"}}\nline two\n'
    stdout = (f"{body}\n{marker}\n"
              '{"http_code":418,"exitcode":0,"http_version":"2"}'
              f"\n{marker}\n"
              '{"content-type":["text/plain"],"set-cookie":["a=1","b=2"]}')
    now = datetime.now(UTC)
    result = prepared.parse(stdout=stdout, stderr="", exit_code=0, started=now, finished=now)
    assert result.body == body
    assert result.status == 418
    assert result.http_version == "2"
    assert result.headers["Content-Type"] == "text/plain"
    assert result.headers.get_all("set-cookie") == ("a=1", "b=2")
    assert result.error is None


def test_real_curl_connection_refused() -> None:
    port = localproc.free_port()
    result = probe.run_local(probe.prepare(Curl(f"http://127.0.0.1:{port}/", timeout_s=3)))
    assert result.exit_code == 7
    assert result.status is None
    assert result.error is not None
    assert result.error.exit_code == 7
    assert "Failed to connect" in result.error.message
    assert result.body == ""
    assert "exit code: 7" in result.describe()
    assert result.finished >= result.started


def test_the_marker_is_found_only_as_sent() -> None:
    marker = probe.prepare(Curl("http://h/")).marker
    assert probe.carries_marker(marker, marker)
    assert not probe.carries_marker(marker + "x", marker)
    assert not probe.carries_marker(None, marker)
    assert not probe.carries_marker("", "")
    assert not probe.carries_marker("curl/8.11.1", marker)


def test_the_marker_is_the_user_agent_the_server_sees(httpbin_port: int) -> None:
    result = probe.run_local(probe.prepare(Curl(f"http://127.0.0.1:{httpbin_port}/headers")))
    assert result.status == 200, result.describe()
    assert result.marker in result.body
    assert result.marker in result.summary()


def test_same_request_id_ignores_envoys_trace_nibble() -> None:
    sent = "4abaf11d-812c-46bc-8541-ac010291189a"
    assert probe.same_request_id(sent, sent)
    assert probe.same_request_id("4abaf11d-812c-a6bc-8541-ac010291189a", sent)
    assert not probe.same_request_id("4abaf11d-812c-46bc-8541-ac010291189b", sent)
    assert not probe.same_request_id(None, sent)
    assert probe.same_request_id("plain-id", "plain-id")
    assert not probe.same_request_id("plain-ie", "plain-id")
