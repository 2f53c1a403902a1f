"""Seed 002's context: a request into the mesh through an ingress gateway reaches a workload."""

from __future__ import annotations

from egress_e2e.catalog._seeds import SEED_002
from egress_e2e.scenario.expectations import LogLine, Status, Xfcc
from egress_e2e.scenario.model import Check, Curl, Hop, Scenario, Seed, SeedNames, Step

INGRESS_GATEWAY = Scenario(
    id="ingress-gateway",
    title="Ingress: Gateway on port 80 for any host, VirtualService to command-runner:8080",
    seeds=(Seed(SEED_002, "Ingress Gateway"),),
    flow=(Hop.app("plain HTTP", name="curl (outside the mesh)"),
          Hop.gateway("plain HTTP", name="ingress gateway"),
          Hop.sidecar("plain HTTP", name="command-runner sidecar"),
          Hop.external("command-runner")),
    clients=("uninjected",),
    seed_names=SeedNames(
        client_ns="command-runner",
        gateway_name="istio-ingressgateway",
        gateway_sa="istio-ingressgateway-service-account",
        gateway_labels=(("istio", "ingressgateway"),),
    ),
    fakes=(),
    steps=(
        Step(
            says="Deploy the command-runner workload, a Gateway on port 80 for '*' and a "
                 "VirtualService routing it to command-runner:8080.",
            apply=("command-runner", "gateway", "virtualservice"),
            checks=(
                Check(
                    "a request from outside the mesh reaches the workload via the gateway",
                    Curl("http://{gateway_host}/headers", client="uninjected"),
                    (
                        Status(200),
                        LogLine(proxy="gateway", method="GET", path="/headers",
                                response_code=200, cluster_contains="command-runner"),
                        # The gateway -> app hop ended in the app's sidecar, over mTLS: its
                        # inbound HTTP listener appends one XFCC element (APPEND_FORWARD with
                        # Subject, URI and DNS: buildSidecarInboundHTTPOpts,
                        # pilot/pkg/networking/core/listener_inbound.go) whose By= is the
                        # app's own identity and URI= the gateway's certificate, the peer
                        # auto-mTLS presented (command-runner is injected, so its endpoints
                        # carry the tlsMode label). The gateway adds none: its SANITIZE_SET
                        # (gateway.go) drops XFCC from a client without a certificate.
                        Xfcc(by="workload", uri="gateway"),
                    ),
                ),
            ),
        ),
    ),
    differs=(
        "the seed's command-runner app is replaced by an HTTP echo server (go-httpbin) on the "
        "same port 8080 under the same Service name",
        "the seed opens the cloud LoadBalancer's host name; here a pod without a sidecar calls "
        "the gateway's Service inside the kind cluster, so no LoadBalancer is needed",
        "the isolated layout deploys its own gateway by injection template and selects it by a "
        "label unique to the run, instead of istio: ingressgateway",
        "the seed shows no headers; the echo server's view of X-Forwarded-Client-Cert (set by "
        "its own sidecar, By= command-runner's default account, URI= the gateway's) proves the "
        "last hop went through the app's sidecar over mTLS",
    ),
)

SCENARIOS = (INGRESS_GATEWAY,)
