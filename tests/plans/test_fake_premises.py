"""The answers the policy, wildcard, tunnel and failure-mode scenarios expect from the fake
internet, asked of the real fakes (nginx, httpbin,
the per-run PKI) running locally: the scenarios' constants are what the fakes really say, not
what someone remembered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from egress_e2e.catalog import client_certs, failures, wildcard
from egress_e2e.core import proc
from egress_e2e.core.localproc import LOOPBACK, free_port, running
from egress_e2e.core.waits import eventually
from egress_e2e.evidence import accesslog
from egress_e2e.fakes import local
from egress_e2e.fakes.local import LocalFakes
from egress_e2e.scenario import hosts

ENVOY = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "envoy"


@pytest.fixture(scope="module")
def fakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFakes]:
    with local.start(tmp_path_factory.mktemp("fakes")) as running:
        yield running


def _curl(fakes: LocalFakes, url: str, *args: str) -> proc.Completed:
    return proc.run(["curl", "-sS", "--max-time", "10", *fakes.curl_resolve(), *args,
                     "--write-out", "\n%{http_code}", url], timeout=20, check=False)


def _headers(done: proc.Completed) -> tuple[int, dict[str, str]]:
    body, _, code = done.stdout.rpartition("\n")
    echoed = json.loads(body)["headers"]
    return int(code), {name.lower(): str(value) for name, value in echoed.items()}


def _ca(path: Path) -> tuple[str, str]:
    return "--cacert", str(path)


def test_mtls_port_without_a_client_certificate_is_400_with_nginxs_words(
        fakes: LocalFakes) -> None:
    done = _curl(fakes, f"https://{hosts.HTTPBIN}:{fakes.ports.mtls}/headers",
                 *_ca(fakes.ca_cert))
    assert done.returncode == 0, done.stderr
    body, _, code = done.stdout.rpartition("\n")
    assert code == "400"
    assert client_certs.NO_CLIENT_CERT in body


def test_mtls_port_answers_plain_http_with_nginxs_words(fakes: LocalFakes) -> None:
    done = _curl(fakes, f"http://{hosts.HTTPBIN}:{fakes.ports.mtls}/headers")
    body, _, code = done.stdout.rpartition("\n")
    assert code == "400"
    assert client_certs.PLAIN_HTTP_TO_TLS in body


@pytest.mark.parametrize("host", [hosts.HTTPBIN, hosts.MTLS_SERVER])
def test_mtls_port_echoes_the_client_subject(fakes: LocalFakes, host: str) -> None:
    done = _curl(fakes, f"https://{host}:{fakes.ports.mtls}/headers", *_ca(fakes.ca_cert),
                 "--cert", str(fakes.client_cert), "--key", str(fakes.client_key))
    code, echoed = _headers(done)
    assert code == 200
    assert echoed[hosts.SAW_CLIENT_VERIFY.lower()] == "SUCCESS"
    assert client_certs.CLIENT_SUBJECT_CN in echoed[hosts.SAW_CLIENT_SUBJECT.lower()]


def test_untrusted_port_fails_verification_against_the_fake_ca(fakes: LocalFakes) -> None:
    done = _curl(fakes, fakes.untrusted_url + "/headers", *_ca(fakes.ca_cert))
    assert done.returncode == 60, done.stderr  # curl's "SSL certificate problem"
    # The port itself works: only the issuer differs.
    trusted = _curl(fakes, fakes.untrusted_url + "/headers", *_ca(fakes.untrusted_ca_cert))
    assert _headers(trusted)[0] == 200


@pytest.mark.parametrize(("host", "block"), [
    *wildcard.LANGUAGE_BLOCKS.items(),
    (hosts.WIKIPEDIA, wildcard.WWW_BLOCK),
    (hosts.WIKIPEDIA_WWW, wildcard.WWW_BLOCK),
])
def test_wikipedia_server_blocks_follow_the_sni(fakes: LocalFakes, host: str,
                                                block: str) -> None:
    done = _curl(fakes, f"https://{host}:{fakes.ports.tls}/headers", *_ca(fakes.ca_cert))
    code, echoed = _headers(done)
    assert code == 200
    assert echoed[hosts.SAW_SERVER_BLOCK.lower()] == block
    assert echoed[hosts.SAW_SNI.lower()] == host


def _originating_envoy(listen_port: int, upstream_port: int, trusted_ca: Path, log: Path,
                       log_format: str, *, client: tuple[Path, Path] | None = None
                       ) -> dict[str, Any]:
    """What the gateway does in origination-untrusted-cert, reduced to one Envoy: HTTP in, TLS
    out to httpbin.org trusting only the fake CA, Istio's access-log format."""
    cluster = f"outbound|443||{hosts.HTTPBIN}"
    return {"static_resources": {
        "listeners": [{
            "name": "originate",
            "address": {"socket_address": {"address": LOOPBACK, "port_value": listen_port}},
            "filter_chains": [{"filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network."
                             "http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": "originate",
                    "access_log": [{"name": "envoy.access_loggers.file", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3"
                                 ".FileAccessLog",
                        "path": str(log),
                        "log_format": {"text_format_source": {"inline_string": log_format}},
                    }}],
                    "route_config": {"virtual_hosts": [{
                        "name": "httpbin", "domains": ["*"],
                        "routes": [{"match": {"prefix": "/"}, "route": {"cluster": cluster}}],
                    }]},
                    "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3"
                                 ".Router"}}],
                },
            }]}],
        }],
        "clusters": [{
            "name": cluster,
            "type": "STATIC",
            "connect_timeout": "2s",
            "load_assignment": {"cluster_name": cluster, "endpoints": [{"lb_endpoints": [{
                "endpoint": {"address": {"socket_address": {
                    "address": LOOPBACK, "port_value": upstream_port}}}}]}]},
            "transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3"
                         ".UpstreamTlsContext",
                "sni": hosts.HTTPBIN,
                "common_tls_context": {
                    "validation_context": {"trusted_ca": {"filename": str(trusted_ca)}},
                    # MUTUAL origination: the gateway presents the credentialName's tls.crt.
                    "tls_certificates": [] if client is None else [{
                        "certificate_chain": {"filename": str(client[0])},
                        "private_key": {"filename": str(client[1])}}],
                },
            }},
        }],
    }}


def _istio_log_format(kit: type) -> str:
    """The format the catalog's EnvoyFilter gives its internal listener (Istio's default)."""
    sni_proxy = kit.one(kit.plan_for("wildcard-sni-proxy", "isolated").documents, "EnvoyFilter")
    (listener,) = [p["patch"]["value"] for p in sni_proxy.body["spec"]["configPatches"]
                   if p["applyTo"] == "LISTENER"]
    text = listener["filter_chains"][0]["filters"][1]["typed_config"]["access_log"][0][
        "typed_config"]["log_format"]["text_format_source"]["inline_string"]
    assert isinstance(text, str)
    return text


def _through_envoy(tmp_path: Path, kit: type, upstream_port: int, trusted_ca: Path,
                   client: tuple[Path, Path] | None = None
                   ) -> tuple[int, str, accesslog.AccessLogEntry]:
    """One request through an originating Envoy: (status, body, its access-log entry)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    port, log = free_port(), tmp_path / "access.log"
    config = tmp_path / "envoy.yaml"
    config.write_text(yaml.safe_dump(_originating_envoy(
        port, upstream_port, trusted_ca, log, _istio_log_format(kit), client=client)))
    argv = [str(ENVOY), "-c", str(config), "-l", "warning", "--use-dynamic-base-id",
            "--base-id-path", str(tmp_path / "base-id")]
    with running("originating-envoy", argv, tmp_path / "envoy.out", port=port):
        done = proc.run(["curl", "-sS", "--max-time", "10", "-H", "x-request-id: plans-1",
                         "-H", f"Host: {hosts.HTTPBIN}", "--write-out", "\n%{http_code}",
                         f"http://{LOOPBACK}:{port}/headers"], timeout=20, check=False)
        body, _, code = done.stdout.rpartition("\n")

        def entries() -> list[accesslog.AccessLogEntry]:
            return accesslog.parse_all(log.read_text()) if log.exists() else []

        (entry,) = eventually(entries, lambda found: [] if found else ["no line yet"],
                              what="originating Envoy's access-log line", timeout=10,
                              consecutive=1, interval=0.2)
    return int(code), body, entry


def test_envoy_origination_to_the_untrusted_port_fails_as_the_scenario_expects(
        fakes: LocalFakes, tmp_path: Path, kit: type) -> None:
    """The real Envoy answers 503 with the scenario's body, and its access log's transport
    failure field carries CERTIFICATE_VERIFY_FAILED (read with the harness's parser)."""
    code, body, entry = _through_envoy(tmp_path, kit, fakes.ports.untrusted, fakes.ca_cert)
    assert code == 503, body
    assert body.startswith(failures.UPSTREAM_CONNECT_ERROR)
    assert entry.response_code == 503
    assert entry.upstream_cluster == f"outbound|443||{hosts.HTTPBIN}"
    assert failures.CERTIFICATE_VERIFY_FAILED in (entry.upstream_transport_failure_reason or "")


def test_envoy_mutual_origination_and_its_failure_half(fakes: LocalFakes, tmp_path: Path,
                                                       kit: type) -> None:
    """mtls-origination in one Envoy: with the client certificate nginx verifies it and the
    subject is echoed; with TLS but no certificate nginx answers 400 in the scenario's words."""
    client = (fakes.client_cert, fakes.client_key)
    code, body, entry = _through_envoy(tmp_path / "mutual", kit, fakes.ports.mtls,
                                       fakes.ca_cert, client)
    assert code == 200, body
    echoed = {k.lower(): v for k, v in json.loads(body)["headers"].items()}
    assert echoed[hosts.SAW_CLIENT_VERIFY.lower()] == "SUCCESS"
    assert client_certs.CLIENT_SUBJECT_CN in echoed[hosts.SAW_CLIENT_SUBJECT.lower()]
    assert entry.response_code == 200
    code, body, entry = _through_envoy(tmp_path / "simple", kit, fakes.ports.mtls,
                                       fakes.ca_cert)
    assert code == 400
    assert client_certs.NO_CLIENT_CERT in body
    assert entry.response_code == 400
