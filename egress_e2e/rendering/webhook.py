"""istiod's validating-webhook rules that users meet, checked offline.

The API server's schema and CEL rules (the CRDs) say what may be stored; istiod's webhook then
refuses more. Each rule here carries the message istiod gives (its Go format string filled in the
same way, so the text can be searched for in Istio's source) and cites the file of Istio's source
it comes from, on branch release-1.31.

Only what the CRD lets through is checked here. The API server runs schema and CEL validation
before the validating webhook, so a document the CRD rejects never reaches istiod: a required
field that is absent, or a rule the CRD's ``x-kubernetes-validations`` already hold
(``manifests/charts/base/files/crd-all.gen.yaml``), is left to the schema side of lint. Only
errors are reported: istiod's warnings do not refuse the object.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

Problem = tuple[str, str]

# pkg/config/labels/instance.go: dns1123LabelFmt, wildcardPrefix, DNS1123LabelMaxLength.
_DNS1123_LABEL: Final = re.compile(r"[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?")
_WILDCARD_LABEL: Final = re.compile(r"(\*|(\*|\*-)?[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?)")
_LABEL_MAX: Final = 63
# pkg/config/validation/validation.go: UnixAddressPrefix; pkg/config/constants: IstioMeshGateway.
_UNIX_PREFIX: Final = "unix://"
_MESH_GATEWAY: Final = "mesh"


# ---- small readers: the schema side reports wrong types, these just look past them ----

def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _strs(value: object) -> list[str]:
    return [item for item in _list(value) if isinstance(item, str)]


def _q(text: str) -> str:
    """Go's %q for the ASCII names manifests hold."""
    return json.dumps(text, ensure_ascii=False)


def _is_label(value: str) -> bool:
    return len(value) <= _LABEL_MAX and _DNS1123_LABEL.fullmatch(value) is not None


def _is_wildcard_label(value: str) -> bool:
    return len(value) <= _LABEL_MAX and _WILDCARD_LABEL.fullmatch(value) is not None


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


# ---- pkg/config/protocol/instance.go: Parse, IsHTTP, IsTLS ----

_PROTOCOLS: Final = {"tcp": "TCP", "udp": "UDP", "grpc": "GRPC", "grpc-web": "GRPC-Web",
                     "http": "HTTP", "http_proxy": "HTTP_PROXY", "http2": "HTTP2",
                     "https": "HTTPS", "tls": "TLS", "mongo": "Mongo", "redis": "Redis",
                     "mysql": "MySQL"}
_UNSUPPORTED: Final = "UnsupportedProtocol"


def _protocol(name: str) -> str:
    return _PROTOCOLS.get(name.lower(), _UNSUPPORTED)


def _is_http(protocol: str) -> bool:
    return protocol in ("HTTP", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-Web")


def _is_tls(protocol: str) -> bool:
    return protocol in ("HTTPS", "TLS")


# ---- pkg/config/validation/agent/validation.go: host and port checks ----

def _validate_port(number: int) -> str | None:
    # agent/validation.go ValidatePort
    if 1 <= number <= 65535:
        return None
    return f"port number {number} must be in the range 1..65535"


def _dns1123_preconditions(name: str) -> str | None:
    # agent/validation.go CheckDNS1123Preconditions
    if len(name) > 255:
        return f"domain name {_q(name)} too long (max 255)"
    if not name:
        return "empty domain name not allowed"
    return None


def _dns1123_labels(domain: str) -> str | None:
    # agent/validation.go ValidateDNS1123Labels
    parts = domain.split(".")
    if parts[-1].isdigit():
        return (f"domain name {_q(domain)} invalid (top level domain {_q(parts[-1])} cannot be "
                "all-numeric)")
    for index, label in enumerate(parts):
        if index == len(parts) - 1 and label == "":
            return None  # a trailing dot, as in `istio.io.`
        if not _is_label(label):
            return f"domain name {_q(domain)} invalid (label {_q(label)} invalid)"
    return None


def _fqdn(name: str) -> str | None:
    # agent/validation.go ValidateFQDN
    return _dns1123_preconditions(name) or _dns1123_labels(name)


def _wildcard_domain(domain: str) -> str | None:
    # agent/validation.go ValidateWildcardDomain: a wildcard only in the first label.
    if (error := _dns1123_preconditions(domain)) is not None:
        return error
    first, dot, rest = domain.partition(".")
    if not _is_wildcard_label(first):
        return f"domain name {_q(domain)} invalid (label {_q(first)} invalid)"
    return _dns1123_labels(rest) if dot else None


def _partial_wildcard(host: str) -> str | None:
    # agent/validation.go ValidatePartialWildCard
    if "*" in host and len(host) != 1 and not host.startswith("*."):
        return f"partial wildcard {_q(host)} not allowed"
    return None


def _hostname_part(hostname: str, is_gateway: bool) -> list[str]:
    # agent/validation.go validateSidecarOrGatewayHostnamePart
    errors = []
    if hostname != "*" and "." not in hostname:
        errors.append("short names (non FQDN) are not allowed")
    if (error := _wildcard_domain(hostname)) is not None:
        if not is_gateway:
            errors.append(error)
        if not _is_ip(hostname):  # a Gateway may name an IP instead
            errors.append(error)
    if (error := _partial_wildcard(hostname)) is not None:
        errors.append(error)
    return errors


def _namespace_slash_host(hostname: str, is_gateway: bool) -> list[str]:
    # agent/validation.go ValidateNamespaceSlashWildcardHostname (gatewaySemantics false: the
    # Gateway API conversion is istiod's own, never a user's manifest)
    namespace, slash, dns_name = hostname.partition("/")
    if not slash:
        if is_gateway:
            return _hostname_part(hostname, True)  # old-style host, no namespace
        return ["host must be of form namespace/dnsName"]
    errors = []
    if not namespace or not dns_name:
        errors.append("config namespace and dnsName in host entry cannot be empty")
    if not is_gateway:
        bare = namespace.removeprefix("~")
        if bare not in ("", "*", ".") and not _is_label(bare):
            errors.append(f"invalid namespace value {_q(namespace)} in sidecar")
    elif namespace not in ("*", ".") and not _is_label(namespace):
        errors.append(f"invalid namespace value {_q(namespace)} in gateway")
    return errors + _hostname_part(dns_name, is_gateway)


def _unix_address(address: str) -> str | None:
    # validation.go ValidateUnixAddress
    if not address:
        return "unix address must not be empty"
    if address.startswith("@"):
        return None
    if not address.startswith("/") or address.endswith("/"):
        return f"{address} is not an absolute path to a file"
    return None


def _ip_subnet(subnet: str) -> str | None:
    # agent/validation.go ValidateIPSubnet
    if subnet.count("/") == 1:
        try:
            ipaddress.ip_network(subnet, strict=False)
        except ValueError:
            return f"{subnet} is not a valid CIDR block"
        return None
    return None if _is_ip(subnet) else f"{subnet} is not a valid IP"


# pkg/config/host/name.go: Name.Matches and Name.SubsetOf.
def _host_matches(a: str, b: str) -> bool:
    a_wild, b_wild = a.startswith("*"), b.startswith("*")
    if a_wild and b_wild:
        return b[1:].endswith(a[1:]) if len(a) < len(b) else a[1:].endswith(b[1:])
    if a_wild:
        return b.endswith(a[1:])
    if b_wild:
        return a.endswith(b[1:])
    return a == b


def _host_subset_of(a: str, b: str) -> bool:
    a_wild, b_wild = a.startswith("*"), b.startswith("*")
    if a_wild:
        return b_wild and len(a) >= len(b) and a[1:].endswith(b[1:])
    if b_wild:
        return a.endswith(b[1:])
    return a == b


def _proto_text(fields: Iterable[tuple[str, object]]) -> str:
    """A message as Go's ``%v`` prints it (prototext, compact; unset fields left out)."""
    parts = []
    for name, value in fields:
        if value in (None, "", 0):
            continue
        parts.append(f"{name}:{_q(value) if isinstance(value, str) else value}")
    return " ".join(parts)


@dataclass(frozen=True)
class _Doc:
    name: str
    namespace: str
    labels: Mapping[str, Any]
    spec: Mapping[str, Any]


class _Found:
    """The problems of one document, in the order istiod finds them."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, path: str, message: str | None) -> None:
        if message is not None:
            self.items.append((path, message))

    def extend(self, path: str, messages: Iterable[str]) -> None:
        for message in messages:
            self.items.append((path, message))


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


# ---- DestinationRule: validation.go ValidateDestinationRule, validateTrafficPolicy,
# validateConnectionPool, validatePortTrafficPolicies, validateSubset; agent/validation.go
# ValidateTLS ----

def _destination_rule(doc: _Doc, found: _Found) -> None:
    host = doc.spec.get("host")
    if isinstance(host, str):
        found.add("spec.host", _wildcard_domain(host))
    _traffic_policy(doc.spec.get("trafficPolicy"), "spec.trafficPolicy", found)
    names: set[str] = set()
    for index, subset in enumerate(_list(doc.spec.get("subsets"))):
        where = f"spec.subsets.{index}"
        if not isinstance(subset, Mapping):
            found.add(where, "subset may not be null")
            continue
        name = _str(subset.get("name"))
        if name in names:
            found.add(f"{where}.name", f"duplicate subset names: {name}")
        names.add(name)
        # The CRD requires `name`; an empty one still gets through to istiod.
        if "name" in subset:
            found.add(f"{where}.name", _subset_name(name))
        _traffic_policy(subset.get("trafficPolicy"), f"{where}.trafficPolicy", found)


def _subset_name(name: str) -> str | None:
    # validation.go validateSubsetName
    if not name:
        return "subset name cannot be empty"
    return None if _is_label(name) else f"subset name is invalid: {name}"


_POLICY_FIELDS: Final = ("outlierDetection", "connectionPool", "loadBalancer", "tls",
                         "portLevelSettings", "tunnel", "proxyProtocol", "retryBudget")
_PORT_POLICY_FIELDS: Final = ("outlierDetection", "connectionPool", "loadBalancer", "tls")


def _set(policy: Mapping[str, Any], field: str) -> bool:
    return policy.get(field) is not None


def _traffic_policy(policy: object, where: str, found: _Found) -> None:
    if not isinstance(policy, Mapping):
        return
    if not any(_set(policy, field) for field in _POLICY_FIELDS):
        found.add(where, "traffic policy must have at least one field")
        return
    if _set(policy, "tunnel") and _set(policy, "proxyProtocol"):
        found.add(where, "tunnel and proxyProtocol must not be set together")
        return
    _connection_pool(policy.get("connectionPool"), f"{where}.connectionPool", found)
    _load_balancer(policy.get("loadBalancer"), f"{where}.loadBalancer", found)
    _client_tls(policy.get("tls"), f"{where}.tls", found)
    for index, port_policy in enumerate(_list(policy.get("portLevelSettings"))):
        here = f"{where}.portLevelSettings.{index}"
        if not isinstance(port_policy, Mapping):
            found.add(here, "traffic policy may not be null")
            continue
        if not _set(port_policy, "port"):
            found.add(f"{here}.port", "portTrafficPolicy must have valid port")
        if not any(_set(port_policy, field) for field in _PORT_POLICY_FIELDS):
            found.add(here, "port traffic policy must have at least one field")
            continue
        _connection_pool(port_policy.get("connectionPool"), f"{here}.connectionPool", found)
        _load_balancer(port_policy.get("loadBalancer"), f"{here}.loadBalancer", found)
        _client_tls(port_policy.get("tls"), f"{here}.tls", found)
    tunnel = policy.get("tunnel")
    if isinstance(tunnel, Mapping):
        _tunnel(tunnel, f"{where}.tunnel", found)


def _tunnel(tunnel: Mapping[str, Any], where: str, found: _Found) -> None:
    # validation.go validateTunnelSettings (targetHost and targetPort are the CRD's `required`)
    protocol = _str(tunnel.get("protocol"))
    if protocol not in ("", "CONNECT", "POST"):
        found.add(f"{where}.protocol", 'tunnel protocol must be "CONNECT" or "POST"')
    if "targetHost" in tunnel:
        target = _str(tunnel.get("targetHost"))
        fqdn_error = _fqdn(target)
        if fqdn_error is not None and not _is_ip(target):
            found.add(f"{where}.targetHost", "tunnel target host must be valid FQDN or IP "
                                             f"address: {fqdn_error}; {target} is not a valid IP")
    if "targetPort" in tunnel:
        port_error = _validate_port(_int(tunnel.get("targetPort")))
        if port_error is not None:
            found.add(f"{where}.targetPort", f"tunnel target port is invalid: {port_error}")


def _connection_pool(pool: object, where: str, found: _Found) -> None:
    if not isinstance(pool, Mapping):
        return
    http, tcp = pool.get("http"), pool.get("tcp")
    if http is None and tcp is None:
        found.add(where, "connection pool must have at least one field")
        return
    settings = _map(http)
    if settings.get("h2UpgradePolicy") == "UPGRADE" and settings.get("useClientProtocol") is True:
        found.add(f"{where}.http", "use client protocol must not be true when H2UpgradePolicy is "
                                   "UPGRADE")


def _load_balancer(balancer: object, where: str, found: _Found) -> None:
    settings = _map(balancer)
    if _set(settings, "localityLbSetting") and _set(settings, "zoneAwareLbSetting"):
        found.add(where, "only one of localityLbSetting and zoneAwareLbSetting can be set")


def _client_tls(tls: object, where: str, found: _Found) -> None:
    # agent/validation.go ValidateTLS
    if not isinstance(tls, Mapping):
        return
    mode = _str(tls.get("mode"))
    credential = _str(tls.get("credentialName"))
    ca = _str(tls.get("caCertificates"))
    sans = tls.get("subjectAltNames")
    if tls.get("insecureSkipVerify") is True:
        if mode == "SIMPLE" and (ca or credential or sans):
            found.add(where, "cannot specify CaCertificates or CredentialName or SubjectAltNames "
                             "when InsecureSkipVerify is set true")
        if mode == "MUTUAL" and (ca or sans):
            found.add(where, "cannot specify CaCertificates or SubjectAltNames when "
                             "InsecureSkipVerify is set true")
    if mode in ("SIMPLE", "MUTUAL") and credential:
        if any(_str(tls.get(name)) for name in ("clientCertificate", "caCertificates",
                                                "privateKey", "caCrl")):
            found.add(where, "cannot specify client certificates or CA certificate or CA CRL If "
                             "credentialName is set")
        return  # the credential holds the certificates
    if mode == "MUTUAL":
        if not _str(tls.get("clientCertificate")):
            found.add(f"{where}.clientCertificate", "client certificate required for mutual tls")
        if not _str(tls.get("privateKey")):
            found.add(f"{where}.privateKey", "private key required for mutual tls")


# ---- VirtualService: validation.go ValidateVirtualService, validateGatewayNames,
# validateHTTPRouteDestinations, validateRouteDestinations, validateDestination, validateTLSRoute,
# validateTLSMatch, validateSniHost, validateTCPRoute; virtualservice.go validateHTTPRoute,
# validateHTTPRouteConflict ----

def _virtual_service(doc: _Doc, found: _Found) -> None:
    spec = doc.spec
    hosts, gateways = _strs(spec.get("hosts")), _strs(spec.get("gateways"))
    http, tls, tcp = (_list(spec.get(name)) for name in ("http", "tls", "tcp"))
    delegate = not hosts
    if delegate:
        # No hosts: a delegate, which only another VirtualService's http route may use.
        for present, field in ((gateways, "gateways"), (tls, "tls"), (tcp, "tcp")):
            if present:
                what = "gateways" if field == "gateways" else f"{field} route"
                found.add(f"spec.{field}",
                          f"delegate virtual service must have no {what} specified")
    found.extend("spec.gateways", _gateway_names(gateways))
    to_gateway = bool(gateways) and _MESH_GATEWAY not in gateways
    _virtual_hosts(hosts, tls, to_gateway, found)
    if not (http or tcp or tls):
        found.add("spec", "http, tcp or tls must be provided in virtual service")
    for index, route in enumerate(http):
        where = f"spec.http.{index}"
        if not isinstance(route, Mapping):
            found.add(where, "http route may not be null")
            continue
        _http_route(route, delegate, where, found)
    for index, route in enumerate(tls):
        if isinstance(route, Mapping):
            _tls_route(route, hosts, to_gateway, f"spec.tls.{index}", found)
    for index, route in enumerate(tcp):
        if isinstance(route, Mapping):
            where = f"spec.tcp.{index}"
            if not _list(route.get("route")):
                found.add(f"{where}.route", "TCP route is required")
            _route_destinations(_list(route.get("route")), f"{where}.route", found)


def _virtual_hosts(hosts: list[str], tls: list[Any], to_gateway: bool, found: _Found) -> None:
    to_mesh = not to_gateway
    sni = any(_strs(_map(match).get("sniHosts")) for route in tls
              for match in _list(_map(route).get("match")))
    all_valid = True
    for index, host in enumerate(hosts):
        error = _gateway_bound_domain(sni, host) if to_gateway else _wildcard_domain(host)
        if error is not None:
            if not _is_ip(host):
                found.add(f"spec.hosts.{index}", error)
                all_valid = False
        elif to_mesh and host == "*":
            found.add(f"spec.hosts.{index}", "wildcard host * is not allowed for virtual services "
                                             "bound to the mesh gateway")
            all_valid = False
    if all_valid:
        for i, first in enumerate(hosts):
            for second in hosts[i + 1:]:
                if _host_matches(first, second):
                    found.add("spec.hosts", "duplicate hosts in virtual service: "
                                            f"{first} & {second}")


def _gateway_bound_domain(sni: bool, domain: str) -> str | None:
    # agent/validation.go ValidateWildcardDomainForVirtualServiceBoundToGateway; the
    # outbound_.<port>_._.<host> form is AUTO_PASSTHROUGH's own SNI.
    if sni and domain.startswith("outbound_"):
        return _dns1123_preconditions(domain)
    return _wildcard_domain(domain)


def _gateway_names(names: list[str]) -> list[str]:
    # validation.go validateGatewayNames (it stops at the first name without a namespace)
    errors = []
    for name in names:
        namespace, slash, gateway = name.partition("/")
        if not slash:
            if (error := _fqdn(name)) is not None:
                errors.append(error)
            return errors
        if not namespace or not gateway:
            errors.append("config namespace and gateway name cannot be empty")
        if not _is_label(namespace):
            errors.append(f"invalid value for namespace: {_q(namespace)}")
        if not _is_label(gateway):
            errors.append(f"invalid value for gateway name: {_q(gateway)}")
    return errors


def _http_route(route: Mapping[str, Any], delegate: bool, where: str, found: _Found) -> None:
    name = _str(route.get("name"))
    has = {field: route.get(field) is not None for field in (
        "redirect", "directResponse", "fault", "rewrite", "delegate", "mirror")}
    if not delegate and has["delegate"]:
        # A root route hands the request to the delegate and may do nothing else.
        if has["redirect"]:
            found.add(where, f"root HTTP route {name} must not specify redirect")
        if route.get("route") is not None:
            found.add(where, f"root HTTP route {name} must not specify route")
    else:
        _route_conflicts(route, has, delegate, where, found)
    mirror = route.get("mirror")
    if isinstance(mirror, Mapping):
        found.extend(f"{where}.mirror", _destination(mirror))
    _route_destinations(_list(route.get("route")), f"{where}.route", found)


def _route_conflicts(route: Mapping[str, Any], has: Mapping[str, bool], delegate: bool,
                     where: str, found: _Found) -> None:
    destinations = _list(route.get("route"))
    if delegate and has["delegate"]:
        found.add(f"{where}.delegate", "delegate HTTP route cannot contain delegate")
    if has["redirect"]:
        for present, message in (
                (destinations, "HTTP route cannot contain both route and redirect"),
                (has["fault"], "HTTP route cannot contain both fault and redirect"),
                (has["rewrite"], "HTTP route rule cannot contain both rewrite and redirect"),
                (has["directResponse"],
                 "HTTP route rule cannot contain both direct_response and redirect")):
            if present:
                found.add(where, message)
    elif has["directResponse"]:
        for present, message in (
                (destinations, "HTTP route cannot contain both route and direct_response"),
                (has["fault"], "HTTP route cannot contain both fault and direct_response"),
                (has["rewrite"],
                 "HTTP route rule cannot contain both rewrite and direct_response")):
            if present:
                found.add(where, message)
    elif not destinations:
        found.add(where, "HTTP route, redirect or direct_response is required")
    if has["mirror"] and _list(route.get("mirrors")):
        found.add(where, "HTTP route cannot contain both mirror and mirrors")


def _route_destinations(destinations: list[Any], where: str, found: _Found) -> None:
    total = 0
    for index, weighted in enumerate(destinations):
        here = f"{where}.{index}"
        if not isinstance(weighted, Mapping):
            found.add(here, "weight may not be nil")
            continue
        destination = weighted.get("destination")
        if isinstance(destination, Mapping):
            found.extend(f"{here}.destination", _destination(destination))
        weight = _int(weighted.get("weight"))
        if weight < 0:
            found.add(f"{here}.weight", f"weight {weight} < 0")
        total += weight
    if len(destinations) > 1 and total == 0:
        found.add(where, "total destination weight = 0")


def _destination(destination: Mapping[str, Any]) -> list[str]:
    errors = []
    host = _str(destination.get("host"))
    if host == "*":
        errors.append(f"invalid destination host {host}")
    elif "host" in destination and (error := _wildcard_domain(host)) is not None:
        errors.append(error)
    subset = _str(destination.get("subset"))
    if subset and (error := _subset_name(subset)) is not None:
        errors.append(error)
    port = destination.get("port")
    if isinstance(port, Mapping) and (error := _validate_port(_int(port.get("number")))):
        errors.append(error)
    return errors


def _tls_route(route: Mapping[str, Any], hosts: list[str], to_gateway: bool, where: str,
               found: _Found) -> None:
    matches = _list(route.get("match"))
    if "match" in route and not matches:
        found.add(f"{where}.match", "TLS route must have at least one match condition")
    for index, match in enumerate(matches):
        here = f"{where}.match.{index}"
        if not isinstance(match, Mapping):
            found.add(here, "TLS match may not be null")
            continue
        sni_hosts = _strs(match.get("sniHosts"))
        if "sniHosts" in match and not sni_hosts:
            found.add(f"{here}.sniHosts", "TLS match must have at least one SNI host")
        for position, sni in enumerate(sni_hosts):
            found.add(f"{here}.sniHosts.{position}", _sni_host(sni, hosts, to_gateway))
        port = _int(match.get("port"))
        if port:
            found.add(f"{here}.port", _validate_port(port))
        for position, subnet in enumerate(_strs(match.get("destinationSubnets"))):
            found.add(f"{here}.destinationSubnets.{position}", _ip_subnet(subnet))
    destinations = _list(route.get("route"))
    if not destinations:
        found.add(f"{where}.route", "TLS route is required")
    _route_destinations(destinations, f"{where}.route", found)


def _sni_host(sni: str, hosts: list[str], to_gateway: bool) -> str | None:
    error = _gateway_bound_domain(True, sni) if to_gateway else _wildcard_domain(sni)
    if error is not None:
        return None if _is_ip(sni) else error  # an IP is only a warning
    if any(_host_subset_of(sni, host) for host in hosts):
        return None
    return (f"SNI host {_q(sni)} is not a compatible subset of any of the virtual service hosts: "
            f"[{', '.join(hosts)}]")


# ---- Sidecar: validation.go ValidateSidecar, validateSidecarOutboundTrafficPolicy ----

def _sidecar(doc: _Doc, found: _Found) -> None:
    spec = doc.spec
    egress, ingress = _list(spec.get("egress")), _list(spec.get("ingress"))
    if not egress and not ingress and spec.get("outboundTrafficPolicy") is None and \
            spec.get("inboundConnectionPool") is None:
        found.add("spec", "sidecar: empty configuration provided")
        return
    ports: set[int] = set()
    for index, listener in enumerate(ingress):
        number = _int(_map(_map(listener).get("port")).get("number"))
        if number in ports:
            found.add(f"spec.ingress.{index}.port",
                      "sidecar: ports on IP bound listeners must be unique")
        ports.add(number)
    _egress_listeners(egress, found)
    _outbound_policy(_map(spec.get("outboundTrafficPolicy")), found)


def _egress_listeners(egress: list[Any], found: _Found) -> None:
    ports: set[int] = set()
    sockets: set[str] = set()
    catch_all = False
    for index, listener in enumerate(egress):
        where = f"spec.egress.{index}"
        if not isinstance(listener, Mapping):
            found.add(where, "egress listener may not be null")
            continue
        port = listener.get("port")
        if not isinstance(port, Mapping):
            # One listener without a port catches the rest, and it must come last.
            if catch_all:
                found.add(where, "sidecar: egress can have only one listener with empty port")
                continue
            if index == len(egress) - 1:
                catch_all = True
            else:
                found.add(where, "sidecar: the egress listener with empty port should be the last "
                                 "listener in the list")
        elif (number := _int(port.get("number"))) == 0:
            bind = _str(listener.get("bind"))
            if bind in sockets:
                found.add(f"{where}.bind", "sidecar: unix domain socket values for listeners "
                                           "must be unique")
            sockets.add(bind)
        else:
            if number in ports:
                found.add(f"{where}.port", "sidecar: ports on IP bound listeners must be unique")
            ports.add(number)
        hosts = listener.get("hosts")
        # An absent `hosts` is the CRD's `required`; only an empty list reaches istiod.
        if isinstance(hosts, list) and not hosts:
            found.add(f"{where}.hosts", "sidecar: egress listener must contain at least one host")
        for position, host in enumerate(_strs(hosts)):
            found.extend(f"{where}.hosts.{position}", _namespace_slash_host(host, False))


def _outbound_policy(policy: Mapping[str, Any], found: _Found) -> None:
    # validation.go validateSidecarOutboundTrafficPolicy
    proxy = policy.get("egressProxy")
    if not isinstance(proxy, Mapping):
        return
    where = "spec.outboundTrafficPolicy.egressProxy"
    if policy.get("mode") != "ALLOW_ANY":
        found.add(where, "sidecar: egress_proxy must be set only with ALLOW_ANY "
                         "outbound_traffic_policy mode")
        return
    if "host" in proxy:  # required by the CRD
        found.add(f"{where}.host", _fqdn(_str(proxy.get("host"))))
    if proxy.get("port") is None:
        found.add(f"{where}.port", "sidecar: egress_proxy port must be non-nil")
        return
    found.extend(where, _destination(proxy))


# ---- EnvoyFilter: envoyfilter/envoyfilter.go validateEnvoyFilter; pkg/config/xds/xds.go
# BuildXDSObjectFromStruct ----

_LISTENER_CLASS: Final = ("LISTENER", "FILTER_CHAIN", "NETWORK_FILTER", "HTTP_FILTER")
_ROUTE_CLASS: Final = ("ROUTE_CONFIGURATION", "VIRTUAL_HOST", "HTTP_ROUTE")
_MATCH_OBJECTS: Final = ("listener", "routeConfiguration", "cluster")
# pkg/wellknown: HTTPConnectionManager.
_HCM: Final = ("envoy.filters.network.http_connection_manager", "envoy.http_connection_manager")
# Envoy's v2 xDS API (envoy.api.v2.*, envoy.config.*.v2.*) is gone from go-control-plane, so
# istiod cannot resolve such an Any; envoyfilter.go adds the hint for a ".v2." type.
_V2_TYPE: Final = re.compile(r"^(?:[^/]*/)?envoy\.(?:[a-z0-9_]+\.)*v2\.")


def _envoy_filter(doc: _Doc, found: _Found) -> None:
    for index, patch in enumerate(_list(doc.spec.get("configPatches"))):
        where = f"spec.configPatches.{index}"
        if not isinstance(patch, Mapping):
            found.add(where, "Envoy filter: null config patch")
            continue
        match = patch.get("match")
        if isinstance(match, Mapping) and match.get("context") == "WAYPOINT":
            continue  # istiod does not validate waypoint patches yet
        apply_to = _str(patch.get("applyTo"))
        body = patch.get("patch")
        if apply_to in ("", "INVALID"):
            found.add(f"{where}.applyTo", "Envoy filter: missing applyTo")
            continue
        if not isinstance(body, Mapping):
            found.add(f"{where}.patch", "Envoy filter: missing patch")
            continue
        operation = _str(body.get("operation"))
        if operation in ("", "INVALID"):
            found.add(f"{where}.patch.operation", "Envoy filter: missing patch operation")
            continue
        if operation != "REMOVE" and body.get("value") is None:
            found.add(f"{where}.patch.value",
                      "Envoy filter: missing patch value for non-remove operation")
            continue
        if isinstance(match, Mapping) and not _patch_match(apply_to, match, where, found):
            continue
        value = body.get("value")
        if isinstance(value, Mapping):
            for type_url in _any_types(value):
                if _V2_TYPE.match(type_url):
                    found.add(f"{where}.patch.value",
                              "referenced type unknown (hint: try using the v3 XDS API): Envoy "
                              f"filter: could not resolve Any message type: {type_url}")
                    break  # decoding stops at the first type it cannot resolve


def _patch_match(apply_to: str, match: Mapping[str, Any], where: str, found: _Found) -> bool:
    """The applyTo/match consistency checks; False where istiod stops checking the patch."""
    if not any(match.get(name) is not None for name in _MATCH_OBJECTS):
        return True
    if apply_to in _LISTENER_CLASS:
        listener = match.get("listener")
        if not isinstance(listener, Mapping):
            found.add(f"{where}.match", "Envoy filter: applyTo for listener class objects cannot "
                                        "have non listener match")
            return False
        net_filter = _map(listener.get("filterChain")).get("filter")
        if isinstance(net_filter, Mapping):
            error = _filter_match(apply_to, net_filter)
            if error is not None:
                found.add(f"{where}.match.listener.filterChain.filter", error)
                return False
    elif apply_to in _ROUTE_CLASS and match.get("routeConfiguration") is None:
        found.add(f"{where}.match", "Envoy filter: applyTo for http route class objects cannot "
                                    "have non route configuration match")
    elif apply_to == "CLUSTER" and match.get("cluster") is None:
        found.add(f"{where}.match", "Envoy filter: applyTo for cluster class objects cannot "
                                    "have non cluster match")
    return True


def _filter_match(apply_to: str, net_filter: Mapping[str, Any]) -> str | None:
    name = _str(net_filter.get("name"))
    if not name:
        return "Envoy filter: filter match has no name to match on"
    sub_filter = net_filter.get("subFilter")
    if not isinstance(sub_filter, Mapping):
        return None
    if apply_to != "HTTP_FILTER":
        return "Envoy filter: subfilter match can be used with applyTo HTTP_FILTER only"
    if name not in _HCM:
        return f"Envoy filter: subfilter match requires filter match with {_HCM[0]}"
    if not _str(sub_filter.get("name")):
        return "Envoy filter: subfilter match has no name to match on"
    return None


def _any_types(value: object) -> Iterable[str]:
    """Every ``@type`` in a patch value, depth first in key order (as the JSON is decoded)."""
    if isinstance(value, Mapping):
        type_url = value.get("@type")
        if isinstance(type_url, str):
            yield type_url
        for key in sorted(value):
            if key != "@type":
                yield from _any_types(value[key])
    elif isinstance(value, list):
        for item in value:
            yield from _any_types(item)


# ---- ServiceEntry: validation.go ValidateServiceEntry, ValidatePortName, ValidateProtocol ----

def _service_entry(doc: _Doc, found: _Found) -> None:
    spec = doc.spec
    hosts = _strs(spec.get("hosts"))
    resolution = _str(spec.get("resolution")) or "NONE"
    for index, host in enumerate(hosts):
        if host != "*":  # the CRD's CEL refuses "*"
            found.add(f"spec.hosts.{index}", _wildcard_domain(host))
    for index, address in enumerate(_strs(spec.get("addresses"))):
        found.add(f"spec.addresses.{index}", _ip_subnet(address))
    ports = [(index, port) for index, port in enumerate(_list(spec.get("ports")))
             if isinstance(port, Mapping)]
    names = _service_ports(ports, found)
    endpoints = [(index, endpoint) for index, endpoint in enumerate(_list(spec.get("endpoints")))
                 if isinstance(endpoint, Mapping)]
    if resolution == "STATIC":
        _static_entry(endpoints, names, found)
    elif resolution in ("DNS", "DNS_ROUND_ROBIN"):
        _dns_entry(hosts, endpoints, names, resolution, found)
    elif resolution == "DYNAMIC_DNS":
        _dynamic_dns_entry(doc, hosts, ports, bool(endpoints), found)
    # Plain TCP carries no host name to tell several hosts apart (NONE ignores the hosts).
    if resolution != "NONE" and len(hosts) > 1:
        for index, port in ports:
            protocol = _protocol(_str(port.get("protocol")))
            if not _is_http(protocol) and not _is_tls(protocol):
                found.add(f"spec.ports.{index}.protocol",
                          "multiple hosts provided with non-HTTP, non-TLS ports")
                break


def _service_ports(ports: list[tuple[int, Mapping[str, Any]]], found: _Found) -> set[str]:
    """Checks each port (number ranges and duplicates are the CRD's CEL); returns the names."""
    names: set[str] = set()
    for index, port in ports:
        where = f"spec.ports.{index}"
        name = _str(port.get("name"))
        if name in names:
            found.add(f"{where}.name", f"service entry port name {_q(name)} already defined")
        names.add(name)
        if "name" in port and not _is_label(name):
            found.add(f"{where}.name", f"invalid port name: {name}")
        protocol = _str(port.get("protocol"))
        if protocol and _protocol(protocol) == _UNSUPPORTED:
            found.add(f"{where}.protocol", f"unsupported protocol: {protocol}")
    return names


def _static_entry(endpoints: list[tuple[int, Mapping[str, Any]]], names: set[str],
                  found: _Found) -> None:
    # validation.go validateWorkloadEntry with allowFQDNAddresses false (a missing address and
    # ports on a unix endpoint are the CRD's CEL)
    for index, endpoint in endpoints:
        where = f"spec.endpoints.{index}"
        address = _str(endpoint.get("address"))
        if address.startswith(_UNIX_PREFIX):
            if len(names) != 1:
                found.add(where, "exactly 1 service port required for unix endpoints")
        elif address and not _is_ip(address):
            found.add(f"{where}.address", f"endpoint address {_q(address)} is not a valid IP "
                                          "address")
        _endpoint_ports(endpoint, names, where, found)


def _endpoint_ports(endpoint: Mapping[str, Any], names: set[str], where: str,
                    found: _Found) -> None:
    for name, number in _map(endpoint.get("ports")).items():
        if name not in names:
            found.add(f"{where}.ports.{name}",
                      f"endpoint port {number} is not defined by the service entry")


def _dns_entry(hosts: list[str], endpoints: list[tuple[int, Mapping[str, Any]]],
               names: set[str], resolution: str, found: _Found) -> None:
    if not endpoints:
        # Without endpoints the hosts themselves are resolved, so each must be a name.
        for host in hosts:
            if (error := _fqdn(host)) is not None:
                found.add("spec.hosts", "hosts must be FQDN or contain only prefix wildcards if "
                                        "no endpoints are provided for resolution mode "
                                        f"{resolution}, {error}")
                break
    for index, endpoint in endpoints:
        where = f"spec.endpoints.{index}"
        address = _str(endpoint.get("address"))
        if "address" in endpoint and not _is_ip(address) and _fqdn(address) is not None:
            found.add(f"{where}.address",
                      f"endpoint address {_q(address)} is not a valid FQDN or an IP address")
        _endpoint_ports(endpoint, names, where, found)


def _dynamic_dns_entry(doc: _Doc, hosts: list[str], ports: list[tuple[int, Mapping[str, Any]]],
                       has_endpoints: bool, found: _Found) -> None:
    resolution = "DYNAMIC_DNS"
    for index, host in enumerate(hosts):
        if not host.startswith("*"):
            found.add(f"spec.hosts.{index}",
                      f"host must be wildcarded for resolution mode {resolution}")
    # The two messages below run words together ("generatedfrom", "hostsfield") as istiod does.
    if _list(doc.spec.get("addresses")):
        found.add("spec.addresses", f"addresses cannot be set for resolution type {resolution}. "
                                    "HTTP route domains will only be generatedfrom the hosts "
                                    "field values")
    if has_endpoints:
        found.add("spec.endpoints", f"endpoints cannot be set for resolution type {resolution}. "
                                    "Destination IP address determined from hostsfield values")
    for index, port in ports:
        if _protocol(_str(port.get("protocol"))) not in ("HTTP", "TLS", "GRPC", "HTTP2"):
            found.add(f"spec.ports.{index}.protocol",
                      "only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution "
                      f"type {resolution}")
    location = _str(doc.spec.get("location")) or "MESH_EXTERNAL"
    if location == "MESH_INTERNAL" and _uses_waypoint(doc.labels):
        found.add("spec.location", f"location MESH_INTERNAL with resolution type {resolution} "
                                   "is not supported when using waypoints")


def _uses_waypoint(labels: Mapping[str, Any]) -> bool:
    # validation.go usesWaypoint (label istio.io/use-waypoint)
    value = _str(labels.get("istio.io/use-waypoint"))
    return bool(value) and value.lower() != "none"


# ---- AuthorizationPolicy: validation.go ValidateAuthorizationPolicy; pkg/config/security/
# security.go CheckEmptyValues, ValidatePorts, ValidateIPs ----

_SOURCE_LISTS: Final = ("principals", "requestPrincipals", "namespaces", "ipBlocks",
                        "remoteIpBlocks", "notPrincipals", "notRequestPrincipals",
                        "notNamespaces", "notIpBlocks", "notRemoteIpBlocks", "serviceAccounts",
                        "notServiceAccounts", "trustDomains", "notTrustDomains")
_OPERATION_LISTS: Final = ("ports", "methods", "paths", "hosts", "notPorts", "notMethods",
                           "notPaths", "notHosts")
# What CUSTOM cannot match on yet, with istiod's names for them.
_CUSTOM_UNSUPPORTED: Final = (("namespaces", "From.Namespaces"),
                              ("notNamespaces", "From.NotNamespaces"),
                              ("serviceAccounts", "From.ServiceAccounts"),
                              ("notServiceAccounts", "From.NotServiceAccounts"),
                              ("trustDomains", "From.TrustDomains"),
                              ("notTrustDomains", "From.NotTrustDomains"),
                              ("principals", "From.Principals"),
                              ("notPrincipals", "From.NotPrincipals"),
                              ("requestPrincipals", "From.RequestPrincipals"),
                              ("notRequestPrincipals", "From.NotRequestPrincipals"))
_CUSTOM_UNSUPPORTED_KEYS: Final = ("source.namespace", "source.serviceAccount",
                                   "source.trustDomain", "source.principal")


def _authorization_policy(doc: _Doc, found: _Found) -> None:
    spec = doc.spec
    action = _str(spec.get("action")) or "ALLOW"
    # Every error is prefixed with the policy: multierror.Prefix(errs, "invalid policy n.ns:").
    policy = _Prefixed(found, f"invalid policy {doc.name}.{doc.namespace}:")
    rules = _list(spec.get("rules"))
    provider = spec.get("provider")
    # An empty list decodes to no rules at all, the same as an absent field.
    meaningless = ("action without `rules` is meaningless as it will never be triggered, add an "
                   "empty rule `{}` if you want it be triggered for every request")
    if action == "CUSTOM":
        if not rules:
            policy.add("spec.rules", f"CUSTOM {meaningless}")
        elif not _str(_map(provider).get("name")):
            policy.add("spec.provider.name", "`provider.name` must not be empty")
        _custom_rules(rules, policy)
    if provider is not None and action != "CUSTOM":
        policy.add("spec.provider", f"`provider` must not be with non CUSTOM action, found "
                                    f"{action}")
    if action == "DENY" and not rules:
        policy.add("spec.rules", f"DENY {meaningless}")
    for index, rule in enumerate(rules):
        where = f"spec.rules.{index}"
        if not isinstance(rule, Mapping):
            policy.add(where, f"`rule` must not be nil, found at rule {index}")
            continue
        for position, source in enumerate(_list(rule.get("from"))):
            _rule_source(_map(source).get("source"), index, f"{where}.from.{position}.source",
                         policy)
        for position, target in enumerate(_list(rule.get("to"))):
            _rule_operation(_map(target).get("operation"), index,
                            f"{where}.to.{position}.operation", policy)
        for position, condition in enumerate(_list(rule.get("when"))):
            when = _map(condition)
            key = _str(when.get("key"))
            if "key" in when and not key:
                policy.add(f"{where}.when.{position}.key", "`key` must not be empty")
            elif key and not _list(when.get("values")) and not _list(when.get("notValues")):
                policy.add(f"{where}.when.{position}",
                           f"at least one of `values` or `notValues` must be set for key {key}")


class _Prefixed:
    def __init__(self, found: _Found, prefix: str) -> None:
        self.found, self.prefix = found, prefix

    def add(self, path: str, message: str) -> None:
        self.found.add(path, f"{self.prefix} {message}")


def _custom_rules(rules: list[Any], policy: _Prefixed) -> None:
    for index, rule in enumerate(rules):
        for position, source in enumerate(_list(_map(rule).get("from"))):
            src = _map(_map(source).get("source"))
            for field, label in _CUSTOM_UNSUPPORTED:
                if _list(src.get(field)):
                    policy.add(f"spec.rules.{index}.from.{position}.source.{field}",
                               f"{label} is currently not supported with CUSTOM action")
        for position, when in enumerate(_list(_map(rule).get("when"))):
            key = _str(_map(when).get("key"))
            if key in _CUSTOM_UNSUPPORTED_KEYS or key.startswith("request.auth."):
                policy.add(f"spec.rules.{index}.when.{position}.key",
                           f"{key} is currently not supported with CUSTOM action")


def _go_name(field: str) -> str:
    return field[0].upper() + field[1:]


def _rule_source(src: object, rule: int, where: str, policy: _Prefixed) -> None:
    if not isinstance(src, Mapping):
        policy.add(where, f"`from.source` must not be nil, found at rule {rule}")
        return
    if not any(_list(src.get(field)) for field in _SOURCE_LISTS):
        policy.add(where, f"`from.source` must not be empty, found at rule {rule}")
    for field in ("ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks"):
        for value in _strs(src.get(field)):
            if (error := _policy_ip(value)) is not None:
                policy.add(f"{where}.{field}", error)
    for field in _SOURCE_LISTS:
        if "" in _strs(src.get(field)):
            policy.add(f"{where}.{field}", f"empty value not allowed, found in {_go_name(field)}")


def _rule_operation(operation: object, rule: int, where: str, policy: _Prefixed) -> None:
    if not isinstance(operation, Mapping):
        policy.add(where, f"`to.operation` must not be nil, found at rule {rule}")
        return
    if not any(_list(operation.get(field)) for field in _OPERATION_LISTS):
        policy.add(where, f"`to.operation` must not be empty, found at rule {rule}")
    for field in ("ports", "notPorts"):
        for value in _strs(operation.get(field)):
            if not value.isdigit() or int(value) > 65535:
                policy.add(f"{where}.{field}", f"bad port ({value}): {_parse_uint_error(value)}")
    for field in _OPERATION_LISTS:
        if "" in _strs(operation.get(field)):
            policy.add(f"{where}.{field}", f"empty value not allowed, found in {_go_name(field)}")


def _policy_ip(value: str) -> str | None:
    # security.go ValidateIPs: Go's netip error text is not reproduced, the prefix is.
    if "/" in value:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError as exc:
            return f"bad CIDR range ({value}): {exc}"
        return None
    return None if _is_ip(value) else f"bad IP address ({value})"


def _parse_uint_error(value: str) -> str:
    """strconv.ParseUint's error as Go's %v prints it (nil when only the range is wrong)."""
    if value.isdigit():
        return "<nil>"
    return f'strconv.ParseUint: parsing {_q(value)}: invalid syntax'


_CHECKS: Final[Mapping[tuple[str, str], Callable[[_Doc, _Found], None]]] = {
    ("networking.istio.io", "Gateway"): _gateway,
    ("networking.istio.io", "DestinationRule"): _destination_rule,
    ("networking.istio.io", "VirtualService"): _virtual_service,
    ("networking.istio.io", "Sidecar"): _sidecar,
    ("networking.istio.io", "EnvoyFilter"): _envoy_filter,
    ("networking.istio.io", "ServiceEntry"): _service_entry,
    ("security.istio.io", "AuthorizationPolicy"): _authorization_policy,
}


def webhook_problems(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field path, message) for each rule istiod's webhook would refuse ``body`` for."""
    group = _str(body.get("apiVersion")).partition("/")[0]
    check = _CHECKS.get((group, _str(body.get("kind"))))
    if check is None:
        return []
    meta = _map(body.get("metadata"))
    doc = _Doc(_str(meta.get("name")), _str(meta.get("namespace")), _map(meta.get("labels")),
               _map(body.get("spec")))
    found = _Found()
    check(doc, found)
    return found.items
