"""The per-run PKI of the fake internet: a root CA the harness trusts, server and client
certificates it issues, and a second CA nobody trusts (for the "untrusted certificate" scenario).

Everything is generated fresh for each run into one private directory (mode 0700). Private keys
are written with mode 0600 and never leave that directory: reports and artifacts copy only the
certificate files listed by ``Pki.public_files``. CA keys are not written at all: nothing issues
certificates after ``generate`` returns.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from egress_e2e.fakes import declared
from egress_e2e.scenario import hosts

ORGANIZATION = "istio-egress-e2e"
# Names on every server certificate: each seed host, the wildcard the seed-003 SNI patterns need,
# and localhost for people debugging the local fakes by hand.
SERVER_DNS_NAMES: tuple[str, ...] = (*hosts.ALL_HOSTS, "*.wikipedia.org", "localhost")
_VALIDITY = datetime.timedelta(days=2)
_CLOCK_SKEW = datetime.timedelta(minutes=5)

_KeyPair = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]


@dataclass(frozen=True)
class Pki:
    """Paths of one run's PKI files (PEM). ``*_key`` files are 0600 and secret."""

    directory: Path
    run_id: str
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    untrusted_ca_cert: Path
    untrusted_server_cert: Path
    untrusted_server_key: Path
    # A client certificate from the untrusted CA: the mTLS port must refuse it.
    untrusted_client_cert: Path
    untrusted_client_key: Path

    @property
    def client_subject(self) -> str:
        """The client certificate's subject as nginx prints ``$ssl_client_s_dn`` (RFC 2253)."""
        return f"CN={hosts.CLIENT_COMMON_NAME},O={ORGANIZATION}"

    def public_files(self) -> tuple[Path, ...]:
        """Files safe to copy into reports and artifacts (certificates, never keys)."""
        return (self.ca_cert, self.server_cert, self.client_cert, self.untrusted_ca_cert,
                self.untrusted_server_cert, self.untrusted_client_cert)

    def secret_files(self) -> tuple[Path, ...]:
        return (self.server_key, self.client_key, self.untrusted_server_key,
                self.untrusted_client_key)


def generate(directory: Path, run_id: str, extra_ips: Sequence[str] = (),
             extra_names: Sequence[str] | None = None) -> Pki:
    """Create a fresh PKI for ``run_id`` in ``directory`` (created 0700 if missing).

    ``extra_ips`` are added as IP SANs to the server certificates (127.0.0.1 always is), for
    clients that address a fake by IP, such as a gateway tunnelling to the CONNECT proxy.
    ``extra_names`` are more DNS names on them (default: the scenario files' declared hosts).
    """
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    ips = ("127.0.0.1", *extra_ips)
    ca = _ca(f"egress-e2e fake internet CA {run_id}")
    untrusted_ca = _ca(f"egress-e2e UNTRUSTED CA {run_id}")
    names = (*SERVER_DNS_NAMES, *(declared.current().names if extra_names is None
                                  else extra_names))
    server = _issue(ca, _name("fake-internet", "server"), names, ips, server=True)
    client = _issue(ca, _name(hosts.CLIENT_COMMON_NAME), (), (), server=False)
    untrusted_server = _issue(untrusted_ca, _name("fake-internet-untrusted", "server"),
                              names, ips, server=True)
    untrusted_client = _issue(untrusted_ca, _name("egress-e2e-untrusted-client"), (), (),
                              server=False)

    pki = Pki(
        directory=directory,
        run_id=run_id,
        ca_cert=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
        untrusted_ca_cert=directory / "untrusted-ca.crt",
        untrusted_server_cert=directory / "untrusted-server.crt",
        untrusted_server_key=directory / "untrusted-server.key",
        untrusted_client_cert=directory / "untrusted-client.crt",
        untrusted_client_key=directory / "untrusted-client.key",
    )
    _write_cert(pki.ca_cert, ca[0])
    _write_cert(pki.untrusted_ca_cert, untrusted_ca[0])
    for cert_path, key_path, pair in (
        (pki.server_cert, pki.server_key, server),
        (pki.client_cert, pki.client_key, client),
        (pki.untrusted_server_cert, pki.untrusted_server_key, untrusted_server),
        (pki.untrusted_client_cert, pki.untrusted_client_key, untrusted_client),
    ):
        _write_cert(cert_path, pair[0])
        write_private_key(key_path, pair[1])
    return pki


def _name(common_name: str, unit: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION)]
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _ca(common_name: str) -> _KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - _CLOCK_SKEW)
        .not_valid_after(_now() + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                          content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, encipher_only=False,
                          decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _issue(issuer: _KeyPair, subject: x509.Name, dns_names: Sequence[str],
           ips: Sequence[str], *, server: bool) -> _KeyPair:
    issuer_cert, issuer_key = issuer
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - _CLOCK_SKEW)
        .not_valid_after(_now() + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                          content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, encipher_only=False,
                          decipher_only=False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()), key


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.chmod(0o644)


def write_private_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    # Created 0600 from the first byte: no window in which another user could read it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    path.chmod(0o600)
