"""istiod's webhook rules for Sidecar."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from egress_e2e.rendering.webhook._common import (
    _Doc,
    _Found,
    _fqdn,
    _int,
    _list,
    _map,
    _namespace_slash_host,
    _str,
    _strs,
)
from egress_e2e.rendering.webhook.virtual_service import _destination

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
