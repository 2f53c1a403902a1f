"""istiod's webhook rules for Gateway."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from egress_e2e.rendering.webhook._common import (
    _UNIX_PREFIX,
    _UNSUPPORTED,
    _Doc,
    _Found,
    _int,
    _is_http,
    _is_ip,
    _is_label,
    _is_tls,
    _list,
    _map,
    _namespace_slash_host,
    _proto_text,
    _protocol,
    _q,
    _str,
    _strs,
    _unix_address,
    _validate_port,
)

# ---- Gateway: validation.go ValidateGateway, validateServer, validateServerPort,
# validateServerBind, validateTLSOptions ----

def _gateway(doc: _Doc, found: _Found) -> None:
    if not _is_label(doc.name):
        found.add("metadata.name", f"invalid gateway name: {_q(doc.name)}")
    servers = _list(doc.spec.get("servers"))
    if not servers:
        found.add("spec.servers", "gateway must have at least one server")
    port_names: set[str] = set()
    for index, server in enumerate(servers):
        where = f"spec.servers.{index}"
        if not isinstance(server, Mapping):
            # validateServer says the first; the port-name loop after it, the second.
            found.add(where, "cannot have nil server")
            found.add(where, "server may not be nil")
            continue
        _server(server, where, found)
        port = server.get("port")
        if isinstance(port, Mapping):
            name = _str(port.get("name"))
            if name in port_names:
                found.add(f"{where}.port.name",
                          f"port names in servers must be unique: duplicate name {name}")
            port_names.add(name)


def _server(server: Mapping[str, Any], where: str, found: _Found) -> None:
    hosts = server.get("hosts")
    # An absent `hosts` (or `port`) is the CRD's `required`; only an empty list reaches istiod.
    if isinstance(hosts, list) and not hosts:
        found.add(f"{where}.hosts", "server config must contain at least one host")
    for index, host in enumerate(_strs(hosts)):
        found.extend(f"{where}.hosts.{index}", _namespace_slash_host(host, True))
    port = server.get("port")
    bind = _str(server.get("bind"))
    port_errors = _server_port(port, bind, f"{where}.port", found) if isinstance(
        port, Mapping) else 1
    _server_bind(port, bind, where, found)
    tls = server.get("tls")
    if isinstance(tls, Mapping):
        _server_tls(tls, f"{where}.tls", found)
    if port_errors or not isinstance(port, Mapping):
        return
    protocol = _protocol(_str(port.get("protocol")))
    if _is_tls(protocol) and tls is None:
        found.add(where, "server must have TLS settings for HTTPS/TLS protocols")
    elif not _is_tls(protocol) and isinstance(tls, Mapping):
        if _is_http(protocol):
            # Only tls.httpsRedirect (the default PASSTHROUGH mode, no certificates) may be set.
            passthrough = _str(tls.get("mode")) in ("", "PASSTHROUGH", "AUTO_PASSTHROUGH")
            if not passthrough or any(_str(tls.get(key)) for key in (
                    "caCertificates", "privateKey", "serverCertificate")):
                found.add(f"{where}.tls", "server cannot have TLS settings for plain text HTTP "
                                          "ports")
        else:
            found.add(f"{where}.tls", "server cannot have TLS settings for non HTTPS/TLS ports")


def _port_text(port: Mapping[str, Any]) -> str:
    return _proto_text([("number", _int(port.get("number"))),
                        ("protocol", _str(port.get("protocol"))),
                        ("name", _str(port.get("name"))),
                        ("target_port", _int(port.get("targetPort")))])


def _server_port(port: Mapping[str, Any], bind: str, where: str, found: _Found) -> int:
    before = len(found.items)
    protocol = _str(port.get("protocol"))
    if _protocol(protocol) == _UNSUPPORTED:
        found.add(f"{where}.protocol",
                  f"invalid protocol {_q(protocol)}, supported protocols are HTTP, HTTP2, GRPC, "
                  "GRPC-WEB, MONGO, REDIS, MYSQL, TCP")
    number = _int(port.get("number"))
    if number > 0 or not bind.startswith(_UNIX_PREFIX):
        found.add(f"{where}.number", _validate_port(number))
    if _int(port.get("targetPort")) > 0:
        found.add(f"{where}.targetPort", "targetPort has no impact on Gateways")
    if _str(port.get("name")) == "":
        found.add(f"{where}.name", f"port name must be set: {_port_text(port)}")
    return len(found.items) - before


def _server_bind(port: object, bind: str, where: str, found: _Found) -> None:
    if bind.startswith(_UNIX_PREFIX):
        found.add(f"{where}.bind", _unix_address(bind.removeprefix(_UNIX_PREFIX)))
        if isinstance(port, Mapping) and _int(port.get("number")) != 0:
            found.add(f"{where}.port.number",
                      f"port number must be 0 for unix domain socket: {_port_text(port)}")
    elif bind and not _is_ip(bind):
        found.add(f"{where}.bind", f"{bind} is not a valid IP")


def _server_tls(tls: Mapping[str, Any], where: str, found: _Found) -> None:
    mode = _str(tls.get("mode")) or "PASSTHROUGH"
    cert, key, ca = (_str(tls.get(name)) for name in (
        "serverCertificate", "privateKey", "caCertificates"))
    credential, credentials = _str(tls.get("credentialName")), _list(tls.get("credentialNames"))
    certificates = _list(tls.get("tlsCertificates"))
    if mode == "ISTIO_MUTUAL":
        # ISTIO_MUTUAL uses istiod's own certificates; any other source is refused.
        for present, what in ((cert, "server certificate"), (key, "private key"),
                              (ca, "CA bundle"), (certificates, "tlsCertificates"),
                              (credential, "credentialName"), (credentials, "credentialNames")):
            if present:
                found.add(where, f"ISTIO_MUTUAL TLS cannot have associated {what}")
        return
    if _server_tls_sources(tls, mode, where, found):
        _server_tls_crl(tls, mode, where, found)


def _server_tls_sources(tls: Mapping[str, Any], mode: str, where: str, found: _Found) -> bool:
    """The certificate-source rules; False where istiod returns before its CRL checks."""
    cert, key, ca = (_str(tls.get(name)) for name in (
        "serverCertificate", "privateKey", "caCertificates"))
    credential, credentials = _str(tls.get("credentialName")), _list(tls.get("credentialNames"))
    certificates = _list(tls.get("tlsCertificates"))
    sources = {name for name, present in (("pair", cert and key), ("credentialName", credential),
                                          ("credentialNames", credentials),
                                          ("tlsCertificates", certificates)) if present}
    # The CRD's CEL already refuses credentialNames beside credentialName or tlsCertificates.
    if len(sources) > 1 and "credentialNames" not in sources:
        found.add(where, "only one of credential_name, credential_names, "
                         "server_certificate/private_key, tls_certificates should be specified")
    terminating = mode in ("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL")
    if terminating and (credential or credentials):
        return False  # the certificates come from the credential, fetched by the gateway
    if terminating:
        prefix = "SIMPLE TLS" if mode == "SIMPLE" else "MUTUAL TLS"
        if prefix == "MUTUAL TLS" and not ca:
            found.add(f"{where}.caCertificates", f"{prefix} requires a client CA bundle")
        pairs = [(_str(_map(c).get("serverCertificate")), _str(_map(c).get("privateKey")))
                 for c in certificates] if certificates else [(cert, key)]
        for pair_cert, pair_key in pairs:
            if not pair_cert:
                found.add(where, f"{prefix} requires a server certificate")
            if not pair_key:
                found.add(where, f"{prefix} requires a private key")
    return True


def _server_tls_crl(tls: Mapping[str, Any], mode: str, where: str, found: _Found) -> None:
    if _str(tls.get("caCrl")):
        if _str(tls.get("credentialName")):
            found.add(f"{where}.caCrl", "CRL is not supported with credentialName. CRL has to "
                                        "be specified in the credential")
        if mode == "SIMPLE":
            found.add(f"{where}.caCrl", "CRL is not supported with SIMPLE TLS")
