"""Failure modes a user must be able to trust: here, a gateway that originates TLS refuses a
server certificate its CA bundle does not vouch for (Istio's own tests assert the same)."""

from __future__ import annotations

from typing import Final

from egress_e2e.catalog._isolation import OWN_GATEWAY_SCOPED
from egress_e2e.catalog._seeds import HERMETIC, SEED_001
from egress_e2e.scenario import hosts
from egress_e2e.scenario.expectations import Body, LogLine, Status
from egress_e2e.scenario.model import Check, Curl, Hop, Scenario, Seed, Step

# BoringSSL's reason, as Envoy prints it in %UPSTREAM_TRANSPORT_FAILURE_REASON%
# ("TLS_error:|268435581:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end").
CERTIFICATE_VERIFY_FAILED: Final = "CERTIFICATE_VERIFY_FAILED"
# The start of Envoy's local reply when no upstream connection could be made.
UPSTREAM_CONNECT_ERROR: Final = "upstream connect error or disconnect/reset before headers"

ORIGINATION_UNTRUSTED_CERT = Scenario(
    id="origination-untrusted-cert",
    title="TLS origination to a server whose certificate no trusted CA signed: 503",
    seeds=(Seed(SEED_001, "HTTPS through Egress Gateway, with TLS Origination at the Gateway"),),
    flow=(Hop.app("plain HTTP"), Hop.sidecar("plain HTTP"), Hop.gateway("TLS originated"),
          Hop.external(hosts.HTTPBIN)),
    steps=(
        Step(
            says="Seed 001's TLS origination at the gateway, trusting only the per-run fake "
                 "CA, while httpbin.org:443 reaches the fake's port whose certificate comes "
                 "from a second, untrusted CA.",
            apply=("serviceentry", "gateway", "virtualservice", "destinationrule"),
            checks=(
                Check(
                    "the gateway refuses the certificate: 503 and CERTIFICATE_VERIFY_FAILED",
                    Curl(f"http://{hosts.HTTPBIN}/headers"),
                    (
                        Status(503),
                        Body(UPSTREAM_CONNECT_ERROR),
                        LogLine(proxy="gateway", response_code=503,
                                cluster=f"outbound|443||{hosts.HTTPBIN}",
                                transport_failure_contains=CERTIFICATE_VERIFY_FAILED),
                    ),
                ),
            ),
        ),
    ),
    differs=(
        HERMETIC,
        OWN_GATEWAY_SCOPED,
        "not in any seed: Istio's integration tests assert that origination to a server with "
        "a certificate from the wrong CA fails with 503; seed 001's origination path is reused",
        "the ServiceEntry's port 443 targets the fake's port 9443, whose server certificate "
        "has every seed host name but an untrusted issuer, so only the chain can fail",
        "the origination DestinationRule names the per-run fake CA (credentialName, a Secret "
        "in the gateway namespace too): the CA the gateway trusts is known, and it is not "
        "the one that signed the server's certificate",
    ),
    tags=("origination", "failure"),
)

SCENARIOS = (ORIGINATION_UNTRUSTED_CERT,)
