"""Workload identities: Istio's SPIFFE ids, and who the roles of a scenario are.

An Istio workload's identity is ``spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>``
(the SAN of its mesh certificate, and what XFCC's ``By=`` and ``URI=`` carry). Expectations name
roles ("gateway", "client", "other-client", "workload"); ``Identities`` turns them into ids for
one layout. "workload" is the in-mesh server a scenario deploys behind an ingress gateway
(ingress-gateway's command-runner), which runs as its namespace's ``default`` account.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

# Istio's default trust domain (meshConfig.trustDomain); a mesh that sets another one says so.
DEFAULT_TRUST_DOMAIN: Final = "cluster.local"

IdentityRole = Literal["gateway", "client", "other-client", "workload"]
IDENTITY_ROLES: Final[tuple[IdentityRole, ...]] = ("gateway", "client", "other-client",
                                                   "workload")

_SPIFFE = re.compile(r"^spiffe://(?P<td>[^/]+)/ns/(?P<ns>[^/]+)/sa/(?P<sa>[^/]+)$")


@dataclass(frozen=True)
class SpiffeId:
    """An Istio workload identity: ``spiffe://<trust-domain>/ns/<ns>/sa/<sa>``."""

    trust_domain: str
    namespace: str
    service_account: str

    def __str__(self) -> str:
        return f"spiffe://{self.trust_domain}/ns/{self.namespace}/sa/{self.service_account}"


def parse_spiffe(uri: str) -> SpiffeId:
    match = _SPIFFE.match(uri.strip())
    if match is None:
        raise ValueError(f"not an Istio SPIFFE id (spiffe://<td>/ns/<ns>/sa/<sa>): {uri!r}")
    return SpiffeId(match["td"], match["ns"], match["sa"])


@dataclass(frozen=True)
class Identities:
    """Who the SPIFFE roles of a check are, for one scenario layout."""

    gateway_ns: str
    gateway_sa: str
    client_ns: str
    client_sa: str
    other_client_ns: str = "other"
    other_client_sa: str = "curl"
    trust_domain: str = DEFAULT_TRUST_DOMAIN
    # The scenario's own server workload lives in the client namespace with no
    # serviceAccountName (manifests/patterns/ingress-gateway/command-runner.yaml).
    workload_sa: str = "default"

    def of(self, role: IdentityRole) -> SpiffeId:
        namespace, account = {
            "gateway": (self.gateway_ns, self.gateway_sa),
            "client": (self.client_ns, self.client_sa),
            "other-client": (self.other_client_ns, self.other_client_sa),
            "workload": (self.client_ns, self.workload_sa),
        }[role]
        return SpiffeId(self.trust_domain, namespace, account)

    def spiffe(self, role: IdentityRole) -> str:
        return str(self.of(role))
