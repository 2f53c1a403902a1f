"""istiod's webhook rules for ServiceEntry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from egress_e2e.rendering.webhook._common import (
    _UNIX_PREFIX,
    _UNSUPPORTED,
    _Doc,
    _Found,
    _fqdn,
    _ip_subnet,
    _is_http,
    _is_ip,
    _is_label,
    _is_tls,
    _list,
    _map,
    _protocol,
    _q,
    _str,
    _strs,
    _wildcard_domain,
)

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
