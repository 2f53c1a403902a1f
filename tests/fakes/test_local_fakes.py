"""The local fake internet, for real: Debian nginx in front of python httpbin and Envoy as the
CONNECT proxy, rendered from manifests/external/, spoken to by curl with real TLS."""

from __future__ import annotations

import dataclasses
import socket
import ssl
import uuid
from datetime import timedelta

import pytest

from egress_e2e.core.localproc import LOOPBACK
from egress_e2e.evidence import verify
from egress_e2e.evidence.accesslog import parse_connect
from egress_e2e.evidence.echo import Headers
from egress_e2e.evidence.probe import ProbeResult
from egress_e2e.fakes.placement import wait_for_log_line
from egress_e2e.scenario import hosts
from egress_e2e.scenario.expectations import ProxyConnect
from egress_e2e.scenario.identity import Identities

# curl exit codes: 35 TLS handshake failed, 56 receive failure (CONNECT refused),
# 60 peer certificate cannot be authenticated with known CA certificates.
HANDSHAKE_FAILED = 35
CONNECT_REFUSED = 56
UNTRUSTED_PEER = 60


def test_plain_http_works_and_is_stamped(fakes, fake_curl) -> None:
    request_id = uuid.uuid4().hex
    got = fake_curl(f"{fakes.http_url}/headers", "-H", f"X-Request-Id: {request_id}")

    assert (got.exit_code, got.status) == (0, 200), got.stderr
    assert got.headers[hosts.PROVENANCE] == fakes.run_id
    assert got.headers[hosts.SAW_SERVER_BLOCK] == "httpbin-http"
    saw = got.echoed()
    assert saw[hosts.SAW_SCHEME] == "http"
    assert saw[hosts.SAW_PORT] == str(fakes.ports.http)
    assert saw["Host"] == hosts.HTTPBIN
    assert hosts.SAW_SNI not in saw  # no TLS, so no SNI
    line = wait_for_log_line(fakes.nginx_access_log, f"request_id={request_id}",
                             what="nginx access log")
    assert "block=httpbin-http" in line
    assert '"GET /headers HTTP/1.1" 200' in line


def test_stamp_on_error_answers_too(fakes, fake_curl) -> None:
    got = fake_curl(f"{fakes.http_url}/status/418")

    assert got.status == 418
    assert got.headers[hosts.PROVENANCE] == fakes.run_id
    # What the fake saw rides on the answer itself, error or not (add_header ... always).
    assert got.headers[hosts.SAW_PORT] == str(fakes.ports.http)
    assert got.headers[hosts.SAW_SCHEME] == "http"
    assert hosts.SAW_SNI not in got.headers  # nginx drops a header whose value is empty


def test_what_the_fake_saw_is_on_its_answer(fakes, fake_curl, trust) -> None:
    """The response headers say what the request headers (the echo) say, so the evidence
    layer reads the answer, which every proxy passes back, rather than the fake's log."""
    got = fake_curl(f"{fakes.https_url}/headers", *trust)
    assert got.status == 200, got.stderr
    saw = got.echoed()
    for name in (hosts.SAW_SNI, hosts.SAW_PORT, hosts.SAW_SCHEME, hosts.SAW_TLS_PROTOCOL,
                 hosts.SAW_CLIENT_VERIFY, hosts.SAW_SERVER_BLOCK):
        assert got.headers[name] == saw[name], name
    # nginx's own 400 (no client certificate on the mTLS port) carries them too.
    refused = fake_curl(f"{fakes.mtls_url}/headers", *trust)
    assert refused.status == 400
    assert refused.headers[hosts.PROVENANCE] == fakes.run_id
    assert refused.headers[hosts.SAW_CLIENT_VERIFY] == "NONE"
    assert refused.headers[hosts.SAW_PORT] == str(fakes.ports.mtls)
    assert refused.headers[hosts.SAW_SNI] == hosts.MTLS_SERVER
    accepted = fake_curl(f"{fakes.mtls_url}/headers", *trust,
                         "--cert", str(fakes.client_cert), "--key", str(fakes.client_key))
    assert accepted.status == 200, accepted.stderr
    assert accepted.headers[hosts.SAW_CLIENT_VERIFY] == "SUCCESS"
    assert hosts.CLIENT_COMMON_NAME in accepted.headers[hosts.SAW_CLIENT_SUBJECT]


@pytest.mark.parametrize("host", hosts.HTTPBIN_HOSTS)
def test_https_with_trusted_ca_and_fake_sni(fakes, fake_curl, trust, host) -> None:
    got = fake_curl(f"https://{host}:{fakes.ports.tls}/headers", *trust)

    assert (got.exit_code, got.status) == (0, 200), got.stderr
    assert got.headers[hosts.PROVENANCE] == fakes.run_id
    saw = got.echoed()
    assert saw[hosts.SAW_SNI] == host
    assert saw[hosts.SAW_SCHEME] == "https"
    assert saw[hosts.SAW_PORT] == str(fakes.ports.tls)
    assert saw[hosts.SAW_TLS_PROTOCOL] in {"TLSv1.2", "TLSv1.3"}
    assert saw[hosts.SAW_CLIENT_VERIFY] == "NONE"


def test_https_fails_without_trusting_the_run_ca(fakes, fake_curl) -> None:
    # curl's default trust store: the per-run CA is not in it.
    got = fake_curl(f"{fakes.https_url}/headers")

    assert got.exit_code == UNTRUSTED_PEER, got.stderr


def test_https_fails_when_trusting_only_another_ca(fakes, fake_curl) -> None:
    got = fake_curl(f"{fakes.https_url}/headers", "--cacert", str(fakes.untrusted_ca_cert))

    assert got.exit_code == UNTRUSTED_PEER, got.stderr


@pytest.mark.parametrize("sni", ["example.com", "httpbin.org.example.net"])
def test_https_refuses_an_sni_that_is_not_a_fake_host(fakes, trust, sni) -> None:
    context = ssl.create_default_context(cafile=str(fakes.ca_cert))
    with socket.create_connection((LOOPBACK, fakes.ports.tls), timeout=5) as raw, \
            pytest.raises(ssl.SSLError, match=r"UNRECOGNIZED_NAME|unrecognized name"):
        context.wrap_socket(raw, server_hostname=sni)


def test_https_refuses_a_handshake_without_sni(fakes) -> None:
    context = ssl.create_default_context(cafile=str(fakes.ca_cert))
    context.check_hostname = False
    with socket.create_connection((LOOPBACK, fakes.ports.tls), timeout=5) as raw, \
            pytest.raises(ssl.SSLError):
        context.wrap_socket(raw, server_hostname=None)


def test_https_with_python_ssl_verifies_the_fake_host(fakes) -> None:
    """The same check with a second TLS stack: Python's ssl verifies chain and host name."""
    context = ssl.create_default_context(cafile=str(fakes.ca_cert))
    with socket.create_connection((LOOPBACK, fakes.ports.tls), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=hosts.GOOGLE_WWW) as tls:
        tls.sendall(f"GET /headers HTTP/1.1\r\nHost: {hosts.GOOGLE_WWW}\r\n"
                    "Connection: close\r\n\r\n".encode())
        reply = b""
        while chunk := tls.recv(65536):
            reply += chunk
    head = reply.decode(errors="replace").split("\r\n\r\n", 1)[0]
    assert head.startswith("HTTP/1.1 200")
    assert f"{hosts.PROVENANCE}: {fakes.run_id}" in head


def test_mtls_without_client_cert_is_refused_by_nginx(fakes, fake_curl, trust) -> None:
    got = fake_curl(f"{fakes.mtls_url}/headers", *trust)

    assert (got.exit_code, got.status) == (0, 400), got.stderr
    assert "No required SSL certificate was sent" in got.body
    assert got.headers[hosts.PROVENANCE] == fakes.run_id


def test_mtls_with_client_cert_echoes_subject_and_success(fakes, fake_curl, trust,
                                                          client_cert) -> None:
    got = fake_curl(f"{fakes.mtls_url}/headers", *trust, *client_cert)

    assert (got.exit_code, got.status) == (0, 200), got.stderr
    saw = got.echoed()
    assert saw[hosts.SAW_CLIENT_VERIFY] == "SUCCESS"
    assert saw[hosts.SAW_CLIENT_SUBJECT] == fakes.pki.client_subject
    assert saw[hosts.SAW_CLIENT_SUBJECT] == "CN=egress-e2e-client,O=istio-egress-e2e"
    assert saw[hosts.SAW_SNI] == hosts.MTLS_SERVER
    assert saw[hosts.SAW_PORT] == str(fakes.ports.mtls)
    assert got.headers[hosts.SAW_SERVER_BLOCK] == "mtls"


def test_mtls_refuses_a_client_cert_from_another_ca(fakes, fake_curl, trust) -> None:
    got = fake_curl(f"{fakes.mtls_url}/headers", *trust, "--cert",
                    str(fakes.pki.untrusted_client_cert), "--key",
                    str(fakes.pki.untrusted_client_key))

    assert got.status == 400, got.stderr
    assert "SSL certificate error" in got.body


def test_untrusted_server_fails_verification_with_the_run_ca(fakes, fake_curl, trust) -> None:
    got = fake_curl(f"{fakes.untrusted_url}/headers", *trust)

    assert got.exit_code == UNTRUSTED_PEER, got.stderr


def test_untrusted_server_is_otherwise_healthy(fakes, fake_curl) -> None:
    """Trusting the untrusted CA makes it answer: the failure above is about trust only."""
    got = fake_curl(f"{fakes.untrusted_url}/headers", "--cacert",
                    str(fakes.untrusted_ca_cert))

    assert (got.exit_code, got.status) == (0, 200), got.stderr
    assert got.headers[hosts.SAW_SERVER_BLOCK] == "untrusted"
    assert got.headers[hosts.PROVENANCE] == fakes.run_id


def test_wikipedia_languages_reach_distinct_server_blocks(fakes, fake_curl, trust) -> None:
    answers = {
        host: fake_curl(f"https://{host}:{fakes.ports.tls}/wiki/Main_Page", *trust)
        for host in (hosts.WIKIPEDIA_EN, hosts.WIKIPEDIA_DE, hosts.WIKIPEDIA_WWW)
    }

    for host, got in answers.items():
        assert (got.exit_code, got.status) == (0, 200), f"{host}: {got.stderr}"
        assert got.headers[hosts.PROVENANCE] == fakes.run_id
    blocks = {host: got.headers[hosts.SAW_SERVER_BLOCK] for host, got in answers.items()}
    assert blocks == {hosts.WIKIPEDIA_EN: "wikipedia-en", hosts.WIKIPEDIA_DE: "wikipedia-de",
                      hosts.WIKIPEDIA_WWW: "wikipedia-www"}
    # Seed 003 tells the languages apart by the page title.
    assert "<title>Wikipedia, the free encyclopedia</title>" in answers[hosts.WIKIPEDIA_EN].body
    assert "Die freie Enzyklop" in answers[hosts.WIKIPEDIA_DE].body
    assert answers[hosts.WIKIPEDIA_EN].body != answers[hosts.WIKIPEDIA_DE].body


def test_other_wikipedia_languages_reach_the_wildcard_block(fakes, fake_curl, trust) -> None:
    got = fake_curl(f"https://fr.wikipedia.org:{fakes.ports.tls}/headers", "--resolve",
                    f"fr.wikipedia.org:{fakes.ports.tls}:{LOOPBACK}", *trust)

    assert (got.exit_code, got.status) == (0, 200), got.stderr
    assert got.headers[hosts.SAW_SERVER_BLOCK] == "wikipedia-www"
    assert got.echoed()[hosts.SAW_SNI] == "fr.wikipedia.org"


def test_connect_tunnel_reaches_the_tls_fake_and_is_logged(fakes, fake_curl, trust) -> None:
    target = f"{LOOPBACK}:{fakes.ports.tls}"
    direct = fake_curl(f"{fakes.https_url}/headers", *trust)
    assert direct.status == 200
    assert f"CONNECT {target} " not in fakes.proxy_access_log()  # not before the tunnel

    request_id = uuid.uuid4().hex
    got = fake_curl(
        f"https://{hosts.HTTPBIN}/headers", *trust,
        "--proxy", fakes.connect_proxy_url, "--proxy-cacert", str(fakes.ca_cert),
        # The CONNECT target is the fake's loopback port: the local rendering allows only that.
        "--connect-to", f"{hosts.HTTPBIN}:443:{LOOPBACK}:{fakes.ports.tls}",
        "-H", f"X-Request-Id: {request_id}",
    )

    assert (got.exit_code, got.status) == (0, 200), got.stderr
    assert got.headers[hosts.PROVENANCE] == fakes.run_id
    assert got.echoed()[hosts.SAW_SNI] == hosts.HTTPBIN  # TLS end to end, inside the tunnel
    line = wait_for_log_line(fakes.proxy_access_log, f'"CONNECT {target} - HTTP/1.1"',
                             what="CONNECT proxy access log")
    entry = parse_connect(line)  # the evidence layer reads it as seed 004's line
    assert (entry.target_host, entry.target_port) == (LOOPBACK, fakes.ports.tls)
    assert entry.response_code == 200
    # (The flags, "DC" in seed 004, depend on which side closes the tunnel first: not asserted.)
    wait_for_log_line(fakes.nginx_access_log, f"request_id={request_id}",
                      what="nginx access log")


def test_connect_to_a_host_the_fake_does_not_serve_is_refused(fakes, fake_curl, trust) -> None:
    got = fake_curl("https://www.example.com/", *trust,
                    "--proxy", fakes.connect_proxy_url, "--proxy-cacert", str(fakes.ca_cert))

    assert got.exit_code == CONNECT_REFUSED, got.stderr
    assert "403" in got.stderr
    line = wait_for_log_line(fakes.proxy_access_log, '"CONNECT www.example.com:443 ',
                             what="CONNECT proxy access log")
    entry = parse_connect(line)
    assert entry.response_code == 403
    # The proxy logs the CONNECT authority as the tunnel named it (a host, not an address),
    # so ProxyConnect can require the probe's own host; and a refused tunnel is no tunnel.
    assert (entry.target_host, entry.target_port) == ("www.example.com", 443)
    at = entry.start_time
    probe = ProbeResult(request_id="r", url="https://www.example.com/", argv=(), exit_code=56,
                        status=None, http_version=None, headers=Headers(), body="", error=None,
                        stderr="", started=at - timedelta(seconds=1),
                        finished=at + timedelta(seconds=1))
    observed = verify.Observation(probe=probe, proxy_log=(entry,))
    ids = Identities("gw", "gw", "ns", "curl")
    assert verify.verify([ProxyConnect()], observed, ids) == [
        "proxy log: expected CONNECT www.example.com:443 answered 200, got 403"]
    assert verify.verify([ProxyConnect(present=False)], observed, ids)
    elsewhere = dataclasses.replace(probe, url="https://www.google.com/")
    assert verify.verify([ProxyConnect(present=False)],
                         dataclasses.replace(observed, probe=elsewhere), ids) == []


def test_connect_proxy_speaks_tls_with_the_run_certificate(fakes, fake_curl, trust) -> None:
    got = fake_curl(f"https://{hosts.HTTPBIN}/headers", *trust,
                    "--proxy", fakes.connect_proxy_url,
                    "--proxy-cacert", str(fakes.untrusted_ca_cert),
                    "--connect-to", f"{hosts.HTTPBIN}:443:{LOOPBACK}:{fakes.ports.tls}")

    assert got.exit_code == UNTRUSTED_PEER, got.stderr


def test_a_log_wait_that_gives_up_says_what_it_saw(fakes) -> None:
    from egress_e2e.core.errors import WaitTimeout

    with pytest.raises(WaitTimeout, match=r"nginx access log has no line containing "
                                          r"'never-sent' within 0\.3 s; last lines: "):
        wait_for_log_line(fakes.nginx_access_log, "never-sent", what="nginx access log",
                          timeout=0.3)
