"""Real local evidence sources for the evidence-layer tests (conftest exports the fixtures):
a per-module PKI made with ``cryptography``, python httpbin under waitress, and Envoy 1.40
logging in Istio's exact TEXT and JSON formats."""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from egress_e2e.core import localproc
from egress_e2e.evidence.accesslog import ISTIO_TEXT_FORMAT
from egress_e2e.fakes.pki import write_private_key

VENV_BIN = Path(sys.executable).parent
ENVOY = VENV_BIN / "envoy"
WAITRESS = VENV_BIN / "waitress-serve"

TRUST_DOMAIN = "cluster.local"
GATEWAY_SPIFFE = f"spiffe://{TRUST_DOMAIN}/ns/istio-system/sa/istio-egressgateway-service-account"
CLIENT_SPIFFE = f"spiffe://{TRUST_DOMAIN}/ns/default/sa/curl"
CLIENT_DNS = ("curl.default.svc", "curl.example.test")
# A subject whose organisation holds a comma: XFCC must not split it.
CLIENT_SUBJECT = x509.Name([
    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme, Inc."),
    x509.NameAttribute(NameOID.COMMON_NAME, "curl-client"),
])

# Istio 1.22 printed %UPSTREAM_CLUSTER% in that slot.
ISTIO_1_22_TEXT_FORMAT = ISTIO_TEXT_FORMAT.replace("%UPSTREAM_CLUSTER_RAW%", "%UPSTREAM_CLUSTER%")
# Istio's JSON encoding: the same operators under these keys.
ISTIO_JSON_FORMAT = {
    "start_time": "%START_TIME%",
    "route_name": "%ROUTE_NAME%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "protocol": "%PROTOCOL%",
    "response_code": "%RESPONSE_CODE%",
    "response_flags": "%RESPONSE_FLAGS%",
    "response_code_details": "%RESPONSE_CODE_DETAILS%",
    "connection_termination_details": "%CONNECTION_TERMINATION_DETAILS%",
    "upstream_transport_failure_reason": "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
    "bytes_received": "%BYTES_RECEIVED%",
    "bytes_sent": "%BYTES_SENT%",
    "duration": "%DURATION%",
    "upstream_service_time": "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
    "x_forwarded_for": "%REQ(X-FORWARDED-FOR)%",
    "user_agent": "%REQ(USER-AGENT)%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "authority": "%REQ(:AUTHORITY)%",
    "upstream_host": "%UPSTREAM_HOST%",
    "upstream_cluster": "%UPSTREAM_CLUSTER_RAW%",
    "upstream_local_address": "%UPSTREAM_LOCAL_ADDRESS%",
    "downstream_local_address": "%DOWNSTREAM_LOCAL_ADDRESS%",
    "downstream_remote_address": "%DOWNSTREAM_REMOTE_ADDRESS%",
    "requested_server_name": "%REQUESTED_SERVER_NAME%",
}

HTTP_CLUSTER = "outbound|80||httpbin.org"
TLS_CLUSTER = "outbound|443||httpbin.org"
REFUSED_CLUSTER = "outbound_.80_._.refused.test"


@dataclass(frozen=True)
class Pki:
    dir: Path              # holds ca.crt, client.crt, client.key (the probe's cert_dir layout)
    ca_pem: Path
    server_cert: Path
    server_key: Path
    client_cert: x509.Certificate


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(subject: x509.Name, key: ec.EllipticCurvePrivateKey, *, issuer: x509.Name,
          issuer_key: ec.EllipticCurvePrivateKey, sans: list[x509.GeneralName] | None,
          ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "evidence test CA")])
    ca = _cert(ca_name, ca_key, issuer=ca_name, issuer_key=ca_key, sans=None, ca=True)
    server_key, client_key = _key(), _key()
    server = _cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "httpbin.org")]),
                   server_key, issuer=ca_name, issuer_key=ca_key,
                   sans=[x509.DNSName("httpbin.org"),
                    x509.UniformResourceIdentifier(GATEWAY_SPIFFE)], ca=False)
    client = _cert(CLIENT_SUBJECT, client_key, issuer=ca_name, issuer_key=ca_key,
                   sans=[x509.UniformResourceIdentifier(CLIENT_SPIFFE),
                    *(x509.DNSName(name) for name in CLIENT_DNS)], ca=False)
    pem = serialization.Encoding.PEM
    (root / "ca.crt").write_bytes(ca.public_bytes(pem))
    (root / "server.crt").write_bytes(server.public_bytes(pem))
    (root / "client.crt").write_bytes(client.public_bytes(pem))
    write_private_key(root / "server.key", server_key)
    write_private_key(root / "client.key", client_key)
    return Pki(root, root / "ca.crt", root / "server.crt", root / "server.key", client)


@pytest.fixture(scope="module")
def httpbin_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = localproc.free_port()
    log = tmp_path_factory.mktemp("httpbin") / "waitress.log"
    argv = [str(WAITRESS), f"--listen=127.0.0.1:{port}", "httpbin:app"]
    with localproc.running("httpbin", argv, log, port=port, timeout=20):
        yield port


@dataclass(frozen=True)
class LocalEnvoy:
    http_port: int          # HTTP/1.1 and h2c (codec AUTO) on 127.0.0.1
    http6_port: int         # the same listener on [::1]
    sni_port: int           # tls_inspector + tcp_proxy, SNI httpbin.org
    mtls_port: int          # terminates mTLS, sets XFCC, forwards to httpbin
    admin_port: int
    text_log: Path
    json_log: Path
    text_1_22_log: Path


def _access_logs(env: LocalEnvoy) -> list[dict[str, object]]:
    file_logger = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
    return [
        {"name": "envoy.access_loggers.file", "typed_config": {
            "@type": file_logger, "path": str(env.text_log),
            "log_format": {"text_format_source": {"inline_string": ISTIO_TEXT_FORMAT}}}},
        {"name": "envoy.access_loggers.file", "typed_config": {
            "@type": file_logger, "path": str(env.json_log),
            "log_format": {"json_format": ISTIO_JSON_FORMAT}}},
        {"name": "envoy.access_loggers.file", "typed_config": {
            "@type": file_logger, "path": str(env.text_1_22_log),
            "log_format": {"text_format_source": {"inline_string": ISTIO_1_22_TEXT_FORMAT}}}},
    ]


def _hcm(name: str, logs: list[dict[str, object]], xfcc: bool) -> dict[str, object]:
    config: dict[str, object] = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
                 "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": name, "codec_type": "AUTO", "access_log": logs,
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
        "route_config": {"name": f"{name}-routes", "virtual_hosts": [{
            "name": "httpbin.org:80", "domains": ["*"], "routes": [
                {"name": "refused", "match": {"prefix": "/refused"},
                 "route": {"cluster": REFUSED_CLUSTER}},
                {"name": "default", "match": {"prefix": "/"},
                 "route": {"cluster": HTTP_CLUSTER}},
            ]}]},
    }
    if xfcc:
        config["forward_client_cert_details"] = "SANITIZE_SET"
        config["set_current_client_cert_details"] = {
            "subject": True, "cert": True, "chain": True, "dns": True, "uri": True}
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": config}


def _static_cluster(name: str, port: int) -> dict[str, object]:
    return {"name": name, "type": "STATIC", "connect_timeout": "1s",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {
                    "address": "127.0.0.1", "port_value": port}}}}]}]}}


_TLS_INSPECTOR = {"name": "envoy.filters.listener.tls_inspector", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}}


def _address(host: str, port: int) -> dict[str, object]:
    return {"socket_address": {"address": host, "port_value": port}}


def envoy_config(env: LocalEnvoy, pki: Pki, httpbin: int, refused: int) -> dict[str, object]:
    logs = _access_logs(env)
    tls_context = {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3."
                 "DownstreamTlsContext",
        "require_client_certificate": True,
        "common_tls_context": {
            "tls_certificates": [{"certificate_chain": {"filename": str(pki.server_cert)},
                                  "private_key": {"filename": str(pki.server_key)}}],
            "validation_context": {"trusted_ca": {"filename": str(pki.ca_pem)}}},
    }
    tcp_proxy = {"name": "envoy.filters.network.tcp_proxy", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "stat_prefix": "sni", "cluster": TLS_CLUSTER, "access_log": logs}}
    return {
        "admin": {"address": _address("127.0.0.1", env.admin_port)},
        "static_resources": {
            "listeners": [
                {"name": "http", "address": _address("127.0.0.1", env.http_port),
                 "filter_chains": [{"filters": [_hcm("http", logs, xfcc=False)]}]},
                {"name": "http6", "address": _address("::1", env.http6_port),
                 "filter_chains": [{"filters": [_hcm("http6", logs, xfcc=False)]}]},
                {"name": "sni", "address": _address("127.0.0.1", env.sni_port),
                 "listener_filters": [_TLS_INSPECTOR],
                 "filter_chains": [{"filter_chain_match": {"server_names": ["httpbin.org"]},
                                    "filters": [tcp_proxy]}]},
                {"name": "mtls", "address": _address("127.0.0.1", env.mtls_port),
                 "listener_filters": [_TLS_INSPECTOR],
                 "filter_chains": [{"filters": [_hcm("mtls", logs, xfcc=True)],
                                    "transport_socket": {"name": "envoy.transport_sockets.tls",
                                                         "typed_config": tls_context}}]},
            ],
            "clusters": [_static_cluster(HTTP_CLUSTER, httpbin),
                         _static_cluster(TLS_CLUSTER, env.mtls_port),
                         _static_cluster(REFUSED_CLUSTER, refused)],
        },
    }


@pytest.fixture(scope="module")
def envoy(tmp_path_factory: pytest.TempPathFactory, pki: Pki,
          httpbin_port: int) -> Iterator[LocalEnvoy]:
    root = tmp_path_factory.mktemp("envoy")
    env = LocalEnvoy(
        http_port=localproc.free_port(), http6_port=localproc.free_port("::1"),
        sni_port=localproc.free_port(), mtls_port=localproc.free_port(),
        admin_port=localproc.free_port(), text_log=root / "access.log",
        json_log=root / "access.json.log", text_1_22_log=root / "access.1_22.log")
    config = root / "envoy.json"
    config.write_text(json.dumps(envoy_config(env, pki, httpbin_port, localproc.free_port())))
    argv = [str(ENVOY), "-c", str(config), "--base-id", str(random.randint(1000, 60000)),
            "--disable-hot-restart", "--concurrency", "1", "-l", "warning",
            "--file-flush-interval-msec", "50"]
    with localproc.running("envoy", argv, root / "envoy.log", port=env.admin_port,
                           timeout=20) as process:
        for port in (env.http_port, env.sni_port, env.mtls_port):
            process.wait_for_port(port)
        process.wait_for_port(env.http6_port, host="::1")
        yield env
