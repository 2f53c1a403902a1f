"""The fake internet's address book: which seed host names it serves, on which ports, and the
headers it stamps. Scenarios, templates, the evidence layer and every fake runner read these
names from here so that they cannot drift apart.
"""

from __future__ import annotations

from typing import Final

# Host names the seeds call on the real internet; the fakes answer for all of them.
HTTPBIN: Final = "httpbin.org"
JSONPLACEHOLDER: Final = "jsonplaceholder.typicode.com"
GOOGLE_WWW: Final = "www.google.com"
GOOGLE: Final = "google.com"
WIKIPEDIA: Final = "wikipedia.org"
WIKIPEDIA_WWW: Final = "www.wikipedia.org"
WIKIPEDIA_EN: Final = "en.wikipedia.org"
WIKIPEDIA_DE: Final = "de.wikipedia.org"
# Seed 004's application-level mTLS server and its external CONNECT proxy.
MTLS_SERVER: Final = "external-app.mesh-external.test"
CONNECT_PROXY: Final = "external-proxy.mesh-external.test"

HTTPBIN_HOSTS: Final = (HTTPBIN, JSONPLACEHOLDER, GOOGLE_WWW, GOOGLE)
WIKIPEDIA_HOSTS: Final = (WIKIPEDIA, WIKIPEDIA_WWW, WIKIPEDIA_EN, WIKIPEDIA_DE)
ALL_HOSTS: Final = (*HTTPBIN_HOSTS, *WIKIPEDIA_HOSTS, MTLS_SERVER, CONNECT_PROXY)

# Ports inside the fake's container / pod. Local processes use free ports chosen at run time.
HTTP_PORT: Final = 80
TLS_PORT: Final = 443          # server cert from the per-run CA, chosen by SNI
MTLS_PORT: Final = 8443        # ssl_verify_client on, trusting the per-run CA
UNTRUSTED_PORT: Final = 9443   # server cert from the second, untrusted CA
CONNECT_PORT: Final = 3128     # Envoy CONNECT proxy, TLS listener (seed 004)

# Headers nginx adds to the request it passes to httpbin, so /headers echoes what the fake saw.
SAW_SNI: Final = "X-Fake-Sni"
SAW_TLS_PROTOCOL: Final = "X-Fake-Tls-Protocol"
SAW_CLIENT_VERIFY: Final = "X-Fake-Client-Verify"
SAW_CLIENT_SUBJECT: Final = "X-Fake-Client-Subject"
SAW_PORT: Final = "X-Fake-Port"
SAW_SCHEME: Final = "X-Fake-Scheme"
SAW_SERVER_BLOCK: Final = "X-Fake-Server-Block"
# Response header on every answer: the run id, so a reply from the real internet never passes.
PROVENANCE: Final = "X-Fake-Internet"

# The common name of the client certificate the per-run PKI issues (app-level mTLS, MUTUAL
# origination): nginx echoes the subject it verified, so scenarios assert on it.
CLIENT_COMMON_NAME: Final = "egress-e2e-client"
