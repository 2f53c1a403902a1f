"""istiod's webhook rules for VirtualService."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from egress_e2e.rendering.webhook._common import (
    _MESH_GATEWAY,
    _dns1123_preconditions,
    _Doc,
    _Found,
    _fqdn,
    _host_matches,
    _host_subset_of,
    _int,
    _ip_subnet,
    _is_ip,
    _is_label,
    _list,
    _map,
    _q,
    _str,
    _strs,
    _validate_port,
    _wildcard_domain,
)
from egress_e2e.rendering.webhook.destination_rule import _subset_name

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
