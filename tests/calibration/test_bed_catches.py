"""The bed is a calibration only if it can say no: expectations that ask for something Envoy
does not produce fail here, with the project's own verify, on the real evidence."""

from __future__ import annotations

import dataclasses

import pytest

from egress_e2e import catalog
from egress_e2e.evidence import probe, verify
from egress_e2e.scenario import hosts
from egress_e2e.scenario.expectations import (
    Body,
    Echoed,
    Expectation,
    FakeSaw,
    LogLine,
    Xfcc,
)

from .bed import CLIENT_NS, GATEWAY_NS, IDENTITIES, Bed, request_id_matches

pytestmark = pytest.mark.timeout(60)

GATEWAY_HTTP_FLOWS = ["gateway-http", "gateway-tls-origination", "mtls-gateway-http",
                      "mtls-gateway-tls-origination", "mtls-origination"]


@pytest.mark.parametrize("scenario", GATEWAY_HTTP_FLOWS)
def test_request_id_matching_finds_no_gateway_line(bed: Bed, scenario: str) -> None:
    """The harness's old correlation found HTTP lines by the probe's x-request-id: it finds the
    sidecar's line and never the gateway's, while the marker (User-Agent) finds both."""
    flow = bed.flow(scenario)
    check = catalog.by_id(scenario).steps[0].checks[0]
    observed = flow.observe_once(check)
    result = observed.probe
    logs = {"sidecar": observed.sidecar_log, "gateway": observed.gateway_log}
    by_request_id = {name: [e for e in entries if request_id_matches(e.request_id,
                                                                     result.request_id)]
                     for name, entries in logs.items()}
    by_marker = {name: [e for e in entries if probe.carries_marker(e.user_agent, result.marker)]
                 for name, entries in logs.items()}
    assert len(by_request_id["sidecar"]) == 1
    assert by_request_id["gateway"] == []
    assert len(by_marker["sidecar"]) == 1 and len(by_marker["gateway"]) == 1
    # So a gateway LogLine matched the old way could never be found, and its negative form
    # could never fail; matched by the marker, both can.
    gateway_line = LogLine(proxy="gateway", tcp=False)
    assert verify.verify([gateway_line], observed, IDENTITIES) == []
    old_style = dataclasses.replace(observed, gateway_log=tuple(by_request_id["gateway"]))
    assert verify.verify([gateway_line], old_style, IDENTITIES)


def test_x_envoy_internal_true_fails_through_the_gateway(bed: Bed) -> None:
    flow = bed.flow("gateway-http")
    check = catalog.by_id("gateway-http").steps[0].checks[0]
    observed = flow.observe_once(check)
    assert verify.verify([Echoed("X-Envoy-Internal", equals="true")], observed, IDENTITIES) == [
        "echoed X-Envoy-Internal: expected present, got absent"]
    assert verify.verify([Echoed("X-Envoy-Internal", absent=True)], observed, IDENTITIES) == []


def test_a_negative_gateway_log_expectation_can_fail(bed: Bed) -> None:
    flow = bed.flow("gateway-http")
    check = catalog.by_id("gateway-http").steps[0].checks[0]
    absent = LogLine(proxy="gateway", present=False)
    _, problems = flow.check(check, expectations=[absent])
    assert len(problems) == 1 and problems[0].startswith("gateway log: expected no line"), problems


def test_wrong_fields_fail(bed: Bed) -> None:
    flow = bed.flow("mtls-gateway-tls-origination")
    check = catalog.by_id("mtls-gateway-tls-origination").steps[0].checks[0]
    observed = flow.observe_once(check)
    line = next(e for e in check.expect if isinstance(e, LogLine))
    wrong: list[Expectation] = [
        dataclasses.replace(line, cluster="outbound|80||httpbin.org"),
        dataclasses.replace(line, protocol="HTTP/2"),
        dataclasses.replace(line, downstream_local_port=8080),
        Xfcc(by="client", uri="gateway"),
        FakeSaw(reached=False),
    ]
    for expectation in wrong:
        assert verify.verify([expectation], observed, IDENTITIES), expectation
    swapped = dataclasses.replace(IDENTITIES, gateway_ns=CLIENT_NS, client_ns=GATEWAY_NS)
    assert verify.verify([Xfcc()], observed, swapped)


def test_untrusted_cert_body_never_names_the_tls_error(bed: Bed) -> None:
    """The reviews proposed Body("CERTIFICATE_VERIFY_FAILED"); after the gateway's default
    retries Envoy's reply names only the last reset reason, so that expectation fails, and the
    catalog asserts the TLS error in the gateway's log (with the retry flags) instead."""
    flow = bed.flow("origination-untrusted-cert")
    check = catalog.by_id("origination-untrusted-cert").steps[0].checks[0]
    observed = flow.observe_once(check)
    [problem] = verify.verify([Body("CERTIFICATE_VERIFY_FAILED")], observed, IDENTITIES)
    assert problem.startswith("body: expected to contain 'CERTIFICATE_VERIFY_FAILED'")
    line = next(e for e in check.expect if isinstance(e, LogLine))
    assert verify.verify([line], observed, IDENTITIES) == []
    # Without retries used up (a single failed attempt), or a plain connection failure, the
    # flags differ: the check tells them apart.
    for flags in ("UF", "URX", "NR"):
        assert verify.verify([dataclasses.replace(line, response_flags=flags)], observed,
                             IDENTITIES), flags


def test_double_tls_needs_the_gateways_line_with_the_apps_sni(bed: Bed) -> None:
    """Step 1 of passthrough-double-tls: the failure is proven to have happened at the
    gateway's passthrough chain (its TCP line with the app's SNI), not merely seen by curl."""
    flow = bed.flow("passthrough-double-tls", 0)
    check = catalog.by_id("passthrough-double-tls").steps[0].checks[0]
    observed, problems = flow.check(check)
    assert problems == [], problems
    line = next(e for e in check.expect if isinstance(e, LogLine))
    no_gateway = dataclasses.replace(observed, gateway_log=())
    assert verify.verify([line], no_gateway, IDENTITIES)
    for wrong in (dataclasses.replace(line, sni=hosts.GOOGLE_WWW),
                  dataclasses.replace(line, cluster="outbound|80||httpbin.org")):
        assert verify.verify([wrong], observed, IDENTITIES), wrong


def test_xfcc_fails_on_a_plaintext_hop_to_the_gateway(bed: Bed) -> None:
    """dedicated-gateway-authz step 2's Xfcc proves the ISTIO_MUTUAL hop: on a plaintext hop
    (gateway-http, as in its step 1) the gateway has no client certificate and sets none."""
    check = catalog.by_id("dedicated-gateway-authz").steps[1].checks[0]
    [wanted] = [e for e in check.expect if isinstance(e, Xfcc)]
    plain = bed.flow("gateway-http").observe_once(catalog.by_id("gateway-http").steps[0].checks[0])
    assert verify.verify([wanted], plain, IDENTITIES) == [
        "XFCC: expected an X-Forwarded-Client-Cert header, got none"]
    mutual = bed.flow("dedicated-gateway-authz", 1).observe_once(check)
    assert verify.verify([wanted], mutual, IDENTITIES) == []
