"""Hosts a scenario file declares, for the fake internet to answer beside the seeds' own.

The session's set is held here (``declare`` before the fakes start, ``current`` where they are
configured), so every placement picks it up where it reads ``scenario.hosts``: the server
certificates' names (``pki``), nginx's server blocks (``config``) and the DNS entries
(``placement``, ``local``). By kind: ``http`` joins the plain-HTTP block (port 80), ``tls`` the
TLS block chosen by SNI (port 443), ``mtls`` is answered by the mTLS block (port 8443, which
takes any SNI); every declared name is on the server certificates and in the DNS.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from egress_e2e.scenario import hosts

HostKind = Literal["http", "tls", "mtls"]


@dataclass(frozen=True)
class DeclaredHosts:
    http: tuple[str, ...] = ()
    tls: tuple[str, ...] = ()
    mtls: tuple[str, ...] = ()

    @classmethod
    def of(cls, declared: Iterable[tuple[str, HostKind]]) -> DeclaredHosts:
        """From (name, kind) pairs; the seeds' own names are served already and left out."""
        by_kind: dict[HostKind, list[str]] = {"http": [], "tls": [], "mtls": []}
        for name, kind in declared:
            normal = name.rstrip(".").lower()
            if normal not in hosts.ALL_HOSTS and normal not in by_kind[kind]:
                by_kind[kind].append(normal)
        return cls(*(tuple(sorted(by_kind[k])) for k in ("http", "tls", "mtls")))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted({*self.http, *self.tls, *self.mtls}))

    def __bool__(self) -> bool:
        return bool(self.names)


_CURRENT: list[DeclaredHosts] = [DeclaredHosts()]


def declare(declared: DeclaredHosts) -> None:
    """The hosts this process's fakes answer from now on (the session's scenario files)."""
    _CURRENT[0] = declared


def current() -> DeclaredHosts:
    return _CURRENT[0]
