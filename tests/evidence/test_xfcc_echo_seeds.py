"""XFCC values, echo bodies and curl errors recorded in the seeds (seed 001)."""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from egress_e2e.evidence import echo, xfcc
from egress_e2e.scenario.identity import SpiffeId, parse_spiffe

from .seed_bodies import seed001_body

GATEWAY_ID = "spiffe://cluster.local/ns/istio-system/sa/istio-egressgateway-service-account"
CLIENT_ID = "spiffe://cluster.local/ns/default/sa/default"


def _echo(name: str) -> echo.Headers:
    return echo.parse_headers_body(seed001_body(name))


@pytest.mark.parametrize(("name", "expected_hash", "serial"), [
    ("istio-mutual-tls-origination",
     "b21b1cb5b1a2f41340db0509416c2696583ee01cbc1d2eab03c751de6fa919ca",
     0xFCC54026C2904831 << 64 | 0x13A1038FFA5EE90F),
    ("istio-mutual-plain-http",
     "c207a3ae62f457284f557a63adad6f393852824c2875df3716e7da01af08ea0d",
     0x60682B673F475D950302E190AE37EEB5),
])
def test_seed_xfcc_values(name: str, expected_hash: str, serial: int) -> None:
    [element] = xfcc.parse(_echo(name)["x-forwarded-client-cert"])
    assert element.by == (GATEWAY_ID,)
    assert element.hash == expected_hash
    assert element.subject == ""
    assert element.uri == (CLIENT_ID,)
    assert element.dns == ()
    assert element.chain is None
    assert element.cert is not None
    assert element.cert.startswith("-----BEGIN CERTIFICATE-----\nMIID")
    assert element.cert.endswith("-----END CERTIFICATE-----\n")
    # The recorded Cert is a real Istio workload cert: its own DER hash is the recorded Hash,
    # and its URI SAN is the recorded URI.
    cert = x509.load_pem_x509_certificate(element.cert.encode())
    assert hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest() == expected_hash
    assert cert.serial_number == serial
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [CLIENT_ID]
    assert parse_spiffe(element.by[0]) == SpiffeId(
        "cluster.local", "istio-system", "istio-egressgateway-service-account")
    assert parse_spiffe(element.uri[0]) == SpiffeId("cluster.local", "default", "default")


def test_xfcc_multiple_hops_quotes_and_case() -> None:
    value = (
        'By=spiffe://td/ns/a/sa/x;Subject="O=Acme\\, Inc.,CN=c \\"q\\"";uri=spiffe://td/ns/b/sa/y;'
        'DNS=one.example;dns=two.example,'
        'by=spiffe://td/ns/gw/sa/g;HASH=abc;Cert="-----BEGIN%20CERTIFICATE-----%0AAA%3D%3D%0A";'
        'Chain="%2C";URI=spiffe://td/ns/b/sa/y'
    )
    first, second = xfcc.parse(value)
    assert first.by == ("spiffe://td/ns/a/sa/x",)
    assert first.subject == 'O=Acme\\, Inc.,CN=c "q"'
    assert first.dns == ("one.example", "two.example")
    assert first.hash is None
    assert second.by == ("spiffe://td/ns/gw/sa/g",)
    assert second.hash == "abc"
    assert second.cert == "-----BEGIN CERTIFICATE-----\nAA==\n"
    assert second.chain == ","
    assert second.uri == ("spiffe://td/ns/b/sa/y",)


@pytest.mark.parametrize("value", ["", 'By="unterminated', "Foo=bar", "By"])
def test_xfcc_rejects_malformed(value: str) -> None:
    with pytest.raises(ValueError):
        xfcc.parse(value)


@pytest.mark.parametrize("uri", [
    "spiffe://cluster.local/ns/default", "https://cluster.local/ns/a/sa/b",
    "spiffe://cluster.local/ns/a/sa/b/extra"])
def test_spiffe_rejects_non_workload_ids(uri: str) -> None:
    with pytest.raises(ValueError, match="SPIFFE"):
        parse_spiffe(uri)


def test_spiffe_round_trip() -> None:
    text = str(SpiffeId("example.org", "ns1", "sa1"))
    assert text == "spiffe://example.org/ns/ns1/sa/sa1"
    assert str(parse_spiffe(text)) == text


@pytest.mark.parametrize(("name", "decorator", "peer_prefix", "internal"), [
    ("se-only-sidecar", "httpbin.org:80/*", "sidecar~", None),
    ("http-via-gateway", "httpbin.org:80/*", "router~", "true"),
    ("tls-origination-at-gateway", "httpbin.org:443/*", "router~", "true"),
    ("istio-mutual-tls-origination", "httpbin.org:443/*", "router~", "true"),
    ("istio-mutual-plain-http", "httpbin.org:80/*", "router~", "true"),
])
def test_seed_echo_bodies_python_httpbin(name: str, decorator: str, peer_prefix: str,
                                         internal: str | None) -> None:
    headers = _echo(name)
    assert headers["X-ENVOY-DECORATOR-OPERATION"] == decorator
    assert headers["x-envoy-peer-metadata-id"].startswith(peer_prefix)
    assert headers.get("x-envoy-internal") == internal
    assert headers["host"] == "httpbin.org"
    assert "X-Forwarded-Client-Cert" in headers or "istio-mutual" not in name


def test_seed_passthrough_echo_has_no_envoy_headers() -> None:
    headers = _echo("passthrough")
    assert sorted(h.lower() for h in headers) == ["accept", "host", "user-agent",
                                                 "x-amzn-trace-id"]


def test_go_httpbin_list_values_read_the_same() -> None:
    body = json.dumps({"headers": {"Accept": ["*/*"], "X-Multi": ["a", "b"],
                                   "X-Envoy-Internal": ["true"]}})
    headers = echo.parse_headers_body(body)
    assert headers["accept"] == "*/*"
    assert headers["x-multi"] == "a, b"
    assert headers.get_all("X-MULTI") == ("a", "b")
    assert headers["x-envoy-internal"] == "true"
    assert "x-absent" not in headers
    assert len(headers) == 3


@pytest.mark.parametrize("body", ["<html>502</html>", "[]", '{"args": {}}', ""])
def test_non_echo_bodies_raise(body: str) -> None:
    with pytest.raises(ValueError, match="httpbin echo"):
        echo.parse_headers_body(body)


def test_seed_curl_double_tls_error_through_kubectl_exec() -> None:
    stderr = ("curl: (35) error:1408F10B:SSL routines:ssl3_get_record:wrong version number\n"
              "command terminated with exit code 35\n")
    error = echo.parse_curl_error(stderr)
    assert error == echo.CurlError(35, "error:1408F10B:SSL routines:ssl3_get_record:"
                                       "wrong version number")
    assert "wrong version number" in str(error)


def test_curl_error_codes_and_success() -> None:
    assert echo.parse_curl_error("", 0) is None
    assert echo.parse_curl_error("") is None
    assert echo.parse_curl_error("curl: (56) Recv failure: Connection reset by peer", 56) == (
        echo.CurlError(56, "Recv failure: Connection reset by peer"))
    # kubectl's own failure (no curl line) keeps the process exit code.
    assert echo.parse_curl_error('error: container "curl" not found', 1) == echo.CurlError(1, "")
