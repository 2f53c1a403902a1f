"""Hosts a scenario file declares: the real local fake internet answers them (HTTP, TLS with
the per-run CA, mTLS), stamped and echoing as for the seeds' hosts; the DNS entries and every
placement's nginx config carry them; an undeclared name still gets nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from egress_e2e.core.proc import run
from egress_e2e.evidence.echo import parse_headers_body
from egress_e2e.fakes import config, coredns, declared, local, placement
from egress_e2e.running import scenario_dirs
from egress_e2e.scenario import hosts

ROOT = Path(__file__).resolve().parents[2]
DECLARED = declared.DeclaredHosts.of([("billing.partner.example", "http"),
                                      ("secure.partner.example", "tls"),
                                      ("Ledger.Partner.Example.", "mtls"),
                                      (hosts.HTTPBIN, "tls")])
HANDSHAKE_FAILED = 35


@pytest.fixture(scope="module")
def fakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local.LocalFakes]:
    with local.start(tmp_path_factory.mktemp("declared"), declared_hosts=DECLARED) as running:
        yield running


def _curl(fakes: local.LocalFakes, url: str, *args: str) -> tuple[int, dict[str, str], str]:
    done = run(["curl", "-sS", "--max-time", "10", "-D", "-", *fakes.curl_resolve(), *args,
                url], check=False, timeout=20)
    head, _, body = done.stdout.partition("\n\n")
    headers = dict(line.split(": ", 1) for line in head.splitlines()[1:] if ": " in line)
    return done.returncode, {k.lower(): v for k, v in headers.items()}, body


def test_declared_names_are_normalised_and_the_seeds_left_out() -> None:
    assert DECLARED.http == ("billing.partner.example",)
    assert DECLARED.tls == ("secure.partner.example",)   # httpbin.org is served already
    assert DECLARED.mtls == ("ledger.partner.example",)


def test_an_http_host_is_answered_and_stamped(fakes: local.LocalFakes) -> None:
    code, headers, body = _curl(fakes, f"http://billing.partner.example:{fakes.ports.http}"
                                       "/headers")
    assert code == 0
    assert headers[hosts.PROVENANCE.lower()] == fakes.run_id
    assert headers[hosts.SAW_SERVER_BLOCK.lower()] == "httpbin-http"
    assert parse_headers_body(body)["Host"] == "billing.partner.example"


def test_a_tls_host_has_its_certificate_and_server_block(fakes: local.LocalFakes) -> None:
    code, headers, body = _curl(fakes, f"https://secure.partner.example:{fakes.ports.tls}"
                                       "/headers", "--cacert", str(fakes.ca_cert))
    assert code == 0
    assert headers[hosts.SAW_SERVER_BLOCK.lower()] == "httpbin-tls"
    assert parse_headers_body(body)[hosts.SAW_SNI] == "secure.partner.example"
    # A name nobody declared: the TLS port refuses the handshake, as for any unknown SNI.
    code, _, _ = _curl(fakes, f"https://unknown.partner.example:{fakes.ports.tls}/headers",
                       "--cacert", str(fakes.ca_cert), "--resolve",
                       f"unknown.partner.example:{fakes.ports.tls}:127.0.0.1")
    assert code == HANDSHAKE_FAILED


def test_an_mtls_host_verifies_the_client_certificate(fakes: local.LocalFakes) -> None:
    url = f"https://ledger.partner.example:{fakes.ports.mtls}/headers"
    code, headers, body = _curl(fakes, url, "--cacert", str(fakes.ca_cert), "--cert",
                                str(fakes.client_cert), "--key", str(fakes.client_key))
    assert code == 0
    echoed = parse_headers_body(body)
    assert echoed[hosts.SAW_CLIENT_VERIFY] == "SUCCESS"
    assert echoed[hosts.SAW_SNI] == "ledger.partner.example"
    assert headers[hosts.SAW_SERVER_BLOCK.lower()] == "mtls"
    _, headers, _ = _curl(fakes, url, "--cacert", str(fakes.ca_cert))
    assert headers[hosts.SAW_CLIENT_VERIFY.lower()] == "NONE"


def test_dns_entries_and_mounted_configs_carry_the_declared_hosts() -> None:
    previous = declared.current()
    declared.declare(DECLARED)
    try:
        entries = placement.dns_entries("172.18.0.5", "172.18.0.6")
        nginx = config.render_nginx(config.mounted_nginx("run1", "containers", "127.0.0.1:80"))
    finally:
        declared.declare(previous)
    for name in DECLARED.names:
        assert entries[name] == "172.18.0.5"
    assert entries[hosts.CONNECT_PROXY] == "172.18.0.6"
    block = coredns.fake_hosts_block(entries, "run1")
    assert "billing.partner.example:53" in block and "ledger.partner.example:53" in block
    http_names = next(line for line in nginx.splitlines()
                      if "server_name" in line and hosts.HTTPBIN in line)
    assert http_names.rstrip(";").endswith("billing.partner.example")
    assert nginx.count("secure.partner.example") == 1
    # Without declarations the config is what it always was.
    plain = config.render_nginx(config.mounted_nginx("run1", "containers", "127.0.0.1:80"))
    assert "partner.example" not in plain


def test_the_files_hosts_are_what_the_session_declares() -> None:
    user = scenario_dirs.load((ROOT / "examples" / "scenarios",))
    previous = declared.current()
    try:
        said = scenario_dirs.declare_hosts(user)
        assert said == declared.current()
        assert said.http == ("billing.partner.example",)
        assert said.mtls == ("ledger.partner.example",)
    finally:
        declared.declare(previous)
