"""The container placement's exact specs (the archive of files it copies in, argv, /etc/hosts
entries, fixed ports, the container-rendered configs) run for real in a namespace sandbox and
answer with real TLS.

Only go-httpbin is replaced (by python httpbin on the same port): its image is not here."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import pytest

from egress_e2e.core.proc import run
from egress_e2e.evidence.accesslog import parse_connect_all
from egress_e2e.evidence.echo import parse_headers_body
from egress_e2e.fakes import config, containers
from egress_e2e.fakes.pki import generate
from egress_e2e.scenario import hosts

RUN = "5a4db0c5e1f2"
WEB, PROXY = "172.18.0.5", "172.18.0.6"
SANDBOX = Path(__file__).with_name("container_sandbox.py")


def _write_plan(tmp_path: Path) -> Path:
    """specs.json for container_sandbox.py: the specs, the probes and the client's files."""
    pki = generate(tmp_path / "pki", RUN)
    config_dir = tmp_path / "fake-config"
    httpbin, nginx = containers.web_specs(
        RUN, pki, containers.write_nginx_config(config_dir, RUN))
    proxy = containers.proxy_spec(
        RUN, pki, containers.write_proxy_config(config_dir, RUN, WEB), WEB)
    # The client's files go to the sandbox's private scratch tmpfs (nothing reaches the host).
    client_dir = tmp_path / "scratch" / "client"
    client_files = {str(client_dir / path.name): str(path)
                    for path in (pki.ca_cert, pki.client_cert, pki.client_key)}
    ca = str(client_dir / "ca.crt")
    proxy_url = f"https://{hosts.CONNECT_PROXY}:{hosts.CONNECT_PORT}"
    via_proxy = ["--proxy", proxy_url, "--proxy-cacert", ca,
                 "--resolve", f"{hosts.CONNECT_PROXY}:{hosts.CONNECT_PORT}:{PROXY}",
                 "--cacert", ca]
    probes = {
        "http": ["--resolve", f"{hosts.HTTPBIN}:80:{WEB}", f"http://{hosts.HTTPBIN}/headers"],
        "https": ["--resolve", f"{hosts.HTTPBIN}:443:{WEB}", "--cacert", ca,
                  f"https://{hosts.HTTPBIN}/headers"],
        "mtls": ["--resolve", f"{hosts.MTLS_SERVER}:8443:{WEB}", "--cacert", ca,
                 "--cert", str(client_dir / "client.crt"), "--key", str(client_dir / "client.key"),
                 f"https://{hosts.MTLS_SERVER}:8443/headers"],
        "untrusted": ["--resolve", f"{hosts.HTTPBIN}:9443:{WEB}", "--cacert", ca,
                      f"https://{hosts.HTTPBIN}:9443/headers"],
        # The proxy resolves the seed name itself (its /etc/hosts): the tunnel ends at the fake.
        "connect_by_name": [*via_proxy, f"https://{hosts.GOOGLE_WWW}/headers"],
        # Seed 004's gateway CONNECTs to the IP its client dialled.
        "connect_by_ip": [*via_proxy, "--connect-to", f"{hosts.GOOGLE_WWW}:443:{WEB}:443",
                          f"https://{hosts.GOOGLE_WWW}/headers"],
        # No wildcard in the container's /etc/hosts, so no tunnel for other languages.
        "connect_refused": [*via_proxy, "https://fr.wikipedia.org/"],
    }
    # Each container's files as the one archive put_archive uploads before its start.
    archives = []
    for spec in (nginx, proxy):
        path = tmp_path / f"{spec.role}.tar"
        path.write_bytes(containers.archive(spec.files))
        archives.append(str(path))
    plan = {
        "specs": [{**dataclasses.asdict(spec), "files": [f.target for f in spec.files]}
                  for spec in (httpbin, nginx, proxy)],
        "archives": archives,
        "httpbin_name": httpbin.name,
        "httpbin_port": config.HTTPBIN_PORT,
        "addresses": [WEB, PROXY],
        "scratch": str(tmp_path / "scratch"),
        "probes": probes,
        "client_files": client_files,
        "expect_connect_lines": 3,
    }
    (tmp_path / "scratch").mkdir()
    (tmp_path / "specs.json").write_text(json.dumps(plan, default=str))
    return tmp_path


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    run_dir = _write_plan(tmp_path_factory.mktemp("sandbox"))
    userns = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    done = run(["unshare", *userns, "--mount", "--net", "--pid", "--fork", "--kill-child", "--",
                sys.executable, str(SANDBOX), str(run_dir)], check=False, timeout=60)
    if done.returncode != 0 and (done.returncode == 77 or "unshare:" in done.stderr):
        pytest.skip(f"no namespace sandbox here: {done.stderr.strip()[-200:]}")
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, dict[str, str]] = json.loads(done.stdout)
    return result


def _status(probe: dict[str, str]) -> int:
    lines = [line for line in probe["headers"].splitlines() if line.startswith("HTTP/")]
    return int(lines[-1].split()[1]) if lines else 0


def test_http_and_https_on_the_fixed_ports(sandbox) -> None:
    for name, scheme, port in (("http", "http", "80"), ("https", "https", "443")):
        probe = sandbox[name]
        assert (probe["exit"], _status(probe)) == (0, 200), probe["stderr"]
        assert f"{hosts.PROVENANCE}: {RUN}" in probe["headers"]
        saw = parse_headers_body(probe["body"])
        assert (saw[hosts.SAW_SCHEME], saw[hosts.SAW_PORT]) == (scheme, port)
    assert parse_headers_body(sandbox["https"]["body"])[hosts.SAW_SNI] == hosts.HTTPBIN


def test_mtls_with_the_mounted_ca(sandbox) -> None:
    saw = parse_headers_body(sandbox["mtls"]["body"])
    assert saw[hosts.SAW_CLIENT_VERIFY] == "SUCCESS"
    assert saw[hosts.SAW_CLIENT_SUBJECT] == "CN=egress-e2e-client,O=istio-egress-e2e"


def test_untrusted_port_fails_verification(sandbox) -> None:
    assert sandbox["untrusted"]["exit"] == 60, sandbox["untrusted"]["stderr"]


def test_connect_proxy_tunnels_seed_names_and_ips_to_the_fake_only(sandbox) -> None:
    for name in ("connect_by_name", "connect_by_ip"):
        probe = sandbox[name]
        assert (probe["exit"], _status(probe)) == (0, 200), probe["stderr"]
        assert f"{hosts.PROVENANCE}: {RUN}" in probe["headers"]
        assert parse_headers_body(probe["body"])[hosts.SAW_SNI] == hosts.GOOGLE_WWW
    assert sandbox["connect_refused"]["exit"] == 56
    tunnels = {(e.target_host, e.target_port, e.response_code)
               for e in parse_connect_all(sandbox["envoy_log"])}
    assert tunnels == {(hosts.GOOGLE_WWW, 443, 200), (WEB, 443, 200),
                       ("fr.wikipedia.org", 443, 403)}


def test_nginx_logs_to_stdout_with_the_run_id(sandbox) -> None:
    lines = [line for line in sandbox["nginx_log"].splitlines() if f"run={RUN}" in line]
    assert any("block=mtls" in line and "verify=SUCCESS" in line for line in lines)
    assert any(f"sni={hosts.GOOGLE_WWW} port=443" in line for line in lines)
