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
# How that reply ends once the router has used up its retries: it names the last reset
# reason, and the TLS error is not in it (tests/calibration shows it on Envoy 1.40).
RETRIED_CONNECT_FAILURE: Final = "retried and the latest reset reason: remote connection failure"
# Envoy's response flags: the retry limit was reached (URX) on upstream connection failures (UF).
RETRIES_EXHAUSTED_ON_CONNECT_FAILURE: Final = "URX,UF"

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
                        # Every VirtualService HTTP route without its own retries gets
                        # Istio's default retry policy (translateRoute in pilot/pkg/
                        # networking/core/route/route.go, DefaultPolicy in route/retry/
                        # retry.go: two retries, connect-failure among the conditions), and
                        # a failed handshake is a connect failure. So the gateway tries three
                        # handshakes and its local reply, which the sidecar relays, names the
                        # last reset reason: the body cannot carry the certificate error.
                        Body(UPSTREAM_CONNECT_ERROR),
                        Body(RETRIED_CONNECT_FAILURE),
                        # The TLS detail is in the gateway's access log only
                        # (%UPSTREAM_TRANSPORT_FAILURE_REASON%), with the flags of retries
                        # used up on connection failures.
                        LogLine(proxy="gateway", response_code=503,
                                response_flags=RETRIES_EXHAUSTED_ON_CONNECT_FAILURE,
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
        "CERTIFICATE_VERIFY_FAILED is asserted in the gateway's access log (transport failure "
        "reason, flags URX,UF), not in the body: Istio's default retry policy on the gateway "
        "route (route/retry/retry.go, connect-failure, 2 retries) makes Envoy's final 503 "
        "body end 'retried and the latest reset reason: remote connection failure'",
    ),
    tags=("origination", "failure"),
)

SCENARIOS = (ORIGINATION_UNTRUSTED_CERT,)
