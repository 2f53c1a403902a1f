"""Client certificates to the external service: the gateway presenting one (MUTUAL origination,
seed 001's last TLS section and seed 004's tls-passthrough-mtls) and the app presenting its own
through the mesh (seed 004, "Test mTLS")."""

from __future__ import annotations

from typing import Final

from egress_e2e.catalog._isolation import OWN_GATEWAY_SCOPED
from egress_e2e.catalog._seeds import HERMETIC, SEED_001, SEED_004
from egress_e2e.scenario import hosts
from egress_e2e.scenario.expectations import Body, Echoed, FakeSaw, LogLine, Status
from egress_e2e.scenario.model import Check, Curl, Hop, Scenario, Seed, Step

# What nginx answers when ssl_verify_client is on and the client sent no certificate, and when
# the client sent no TLS at all.
NO_CLIENT_CERT: Final = "No required SSL certificate was sent"
PLAIN_HTTP_TO_TLS: Final = "The plain HTTP request was sent to HTTPS port"
CLIENT_SUBJECT_CN: Final = f"CN={hosts.CLIENT_COMMON_NAME}"
_HTTPBIN_HEADERS: Final = f"http://{hosts.HTTPBIN}/headers"
_ORIGINATED_CLUSTER: Final = f"outbound|443||{hosts.HTTPBIN}"

MTLS_ORIGINATION = Scenario(
    id="mtls-origination",
    title="The gateway originates mutual TLS with a client certificate from a Secret",
    seeds=(
        Seed(SEED_001, "What About mTLS to the External Service?"),
        Seed(SEED_001, "HTTPS through Egress Gateway, with TLS Origination at the Gateway"),
        Seed(SEED_004, "Test mTLS (nginx with client certificate verification)"),
    ),
    flow=(Hop.app("plain HTTP"), Hop.sidecar("plain HTTP"), Hop.gateway("mTLS originated"),
          Hop.external(hosts.HTTPBIN)),
    steps=(
        Step(
            says="HTTP to the gateway, which originates MUTUAL TLS to httpbin.org:443 with "
                 "credentialName naming a Secret in the gateway's own namespace (tls.crt, "
                 "tls.key, ca.crt). Port 443 reaches the fake's mTLS port.",
            apply=("serviceentry", "gateway", "virtualservice",
                   "destinationrule-originate-mtls"),
            checks=(
                Check(
                    "the fake verified the gateway's client certificate",
                    Curl(_HTTPBIN_HEADERS),
                    (
                        Status(200),
                        Echoed(hosts.SAW_CLIENT_VERIFY, equals="SUCCESS"),
                        Echoed(hosts.SAW_CLIENT_SUBJECT, contains=CLIENT_SUBJECT_CN),
                        LogLine(proxy="gateway", response_code=200,
                                cluster=_ORIGINATED_CLUSTER),
                        FakeSaw(scheme="https", port=hosts.MTLS_PORT, sni=hosts.HTTPBIN,
                                client_verify="SUCCESS",
                                client_subject_contains=CLIENT_SUBJECT_CN),
                    ),
                ),
            ),
        ),
        Step(
            says="The same origination without a client certificate: the MUTUAL rule is "
                 "replaced by SIMPLE (same host and port, trusting the fake CA), so the "
                 "handshake completes and nginx itself refuses the request.",
            delete=("destinationrule-originate-mtls",),
            apply=("destinationrule-originate-tls",),
            checks=(
                Check(
                    "nginx answers 400: no client certificate",
                    Curl(_HTTPBIN_HEADERS),
                    (
                        Status(400),
                        Body(NO_CLIENT_CERT),
                        LogLine(proxy="gateway", response_code=400,
                                cluster=_ORIGINATED_CLUSTER),
                        FakeSaw(port=hosts.MTLS_PORT, client_verify="NONE"),
                    ),
                ),
            ),
        ),
        Step(
            says="No origination at all (the DestinationRule removed): the gateway sends plain "
                 "HTTP to the TLS port, and nginx says so.",
            delete=("destinationrule-originate-tls",),
            checks=(
                Check(
                    "nginx answers 400: plain HTTP on its TLS port",
                    Curl(_HTTPBIN_HEADERS),
                    (
                        Status(400),
                        Body(PLAIN_HTTP_TO_TLS),
                        LogLine(proxy="gateway", response_code=400,
                                cluster=_ORIGINATED_CLUSTER),
                    ),
                ),
            ),
        ),
    ),
    differs=(
        HERMETIC,
        OWN_GATEWAY_SCOPED,
        "the seed gives the MUTUAL DestinationRule as configuration only; here it runs against "
        "the fake's mTLS port (the ServiceEntry's port 443 has targetPort 8443)",
        "credentialName is the per-run client Secret (tls.crt, tls.key and ca.crt, the fake "
        "CA that verifies the server), in the gateway's namespace as MUTUAL origination needs",
        "the failure half is asserted twice: with SIMPLE origination (TLS without a client "
        "certificate: nginx's 'No required SSL certificate was sent', the precise failure) "
        "and with the DestinationRule removed, as the issue words it (plain HTTP reaches the "
        "TLS port: 'The plain HTTP request was sent to HTTPS port')",
    ),
    tags=("mtls", "origination"),
)

APP_MTLS_PASSTHROUGH = Scenario(
    id="app-mtls-passthrough",
    title="The app does mTLS itself; the sidecar passes it through a TLS ServiceEntry",
    seeds=(Seed(SEED_004, "Test mTLS"),),
    flow=(Hop.app("app mTLS"), Hop.sidecar("passthrough"), Hop.external(hosts.MTLS_SERVER)),
    gateway="none",
    steps=(
        Step(
            says="A ServiceEntry of protocol TLS for the mTLS server; the client presents its "
                 "own certificate (mounted from a Secret) and the sidecar only routes by SNI.",
            apply=("serviceentry",),
            checks=(
                Check(
                    "the fake verified the app's own client certificate",
                    Curl(f"https://{hosts.MTLS_SERVER}/headers", trust_fake_ca=True,
                         client_cert=True),
                    (
                        Status(200),
                        Echoed(hosts.SAW_CLIENT_VERIFY, equals="SUCCESS"),
                        Echoed(hosts.SAW_CLIENT_SUBJECT, contains=CLIENT_SUBJECT_CN),
                        # The sidecar never saw inside: none of its headers reached the fake.
                        Echoed("X-Envoy-Peer-Metadata-Id", absent=True),
                        LogLine(proxy="sidecar", tcp=True, sni=hosts.MTLS_SERVER,
                                cluster=f"outbound|443||{hosts.MTLS_SERVER}"),
                        FakeSaw(scheme="https", port=hosts.MTLS_PORT, sni=hosts.MTLS_SERVER,
                                client_verify="SUCCESS",
                                client_subject_contains=CLIENT_SUBJECT_CN),
                    ),
                ),
            ),
        ),
    ),
    differs=(
        HERMETIC,
        "the seed reaches its nginx VM through a headless Service with Endpoints named "
        "external-app.default.svc.cluster.local; here the fake's own host name resolves in the "
        "cluster DNS, and the ServiceEntry's port 443 targets the fake's mTLS port 8443",
        "the seed's client mounts its certificate from ConfigMaps and uses --insecure; here "
        "the per-run client certificate comes from a Secret and the fake CA is trusted "
        "(--cacert), so a wrong server would fail",
    ),
    tags=("mtls",),
)

SCENARIOS = (MTLS_ORIGINATION, APP_MTLS_PASSTHROUGH)
