"""The per-run PKI: names on the server certificates, the client's subject, the untrusted CA,
and private keys that nobody else can read."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from egress_e2e.fakes import pki as pki_module
from egress_e2e.scenario import hosts


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> pki_module.Pki:
    return pki_module.generate(tmp_path_factory.mktemp("run") / "pki", "run123",
                               extra_ips=["172.18.0.9"])


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keys_are_private_and_the_directory_too(pki) -> None:
    assert _mode(pki.directory) == 0o700
    for key in pki.secret_files():
        assert _mode(key) == 0o600, key
        serialization.load_pem_private_key(key.read_bytes(), password=None)


def test_public_files_hold_no_key(pki) -> None:
    for path in pki.public_files():
        assert "PRIVATE KEY" not in path.read_text(), path
    assert set(pki.public_files()).isdisjoint(pki.secret_files())
    # CA keys are never written: nothing can issue more certificates after the run starts.
    assert sorted(p.name for p in pki.directory.iterdir()) == sorted(
        p.name for p in (*pki.public_files(), *pki.secret_files()))


def test_server_certificates_name_every_fake_host(pki) -> None:
    for path in (pki.server_cert, pki.untrusted_server_cert):
        sans = _cert(path).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = set(sans.get_values_for_type(x509.DNSName))
        assert set(hosts.ALL_HOSTS) <= names
        assert "*.wikipedia.org" in names
        ips = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
        assert ips == {"127.0.0.1", "172.18.0.9"}


def test_chains_the_run_ca_and_not_the_untrusted_one(pki) -> None:
    ca, untrusted_ca = _cert(pki.ca_cert), _cert(pki.untrusted_ca_cert)
    _cert(pki.server_cert).verify_directly_issued_by(ca)
    _cert(pki.client_cert).verify_directly_issued_by(ca)
    _cert(pki.untrusted_server_cert).verify_directly_issued_by(untrusted_ca)
    with pytest.raises(ValueError):
        _cert(pki.untrusted_server_cert).verify_directly_issued_by(ca)
    assert ca.subject != untrusted_ca.subject
    assert "run123" in ca.subject.rfc4514_string()


def test_client_certificate_has_a_recognisable_subject(pki) -> None:
    client = _cert(pki.client_cert)
    assert client.subject.rfc4514_string() == pki.client_subject
    assert pki.client_subject == "CN=egress-e2e-client,O=istio-egress-e2e"
    usage = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_each_run_gets_fresh_keys(pki, tmp_path) -> None:
    other = pki_module.generate(tmp_path / "pki", "run456")
    assert other.ca_cert.read_bytes() != pki.ca_cert.read_bytes()
    assert other.server_key.read_bytes() != pki.server_key.read_bytes()
