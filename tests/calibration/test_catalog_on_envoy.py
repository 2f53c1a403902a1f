"""The catalog's own checks, run through real Envoy configured as Istio 1.30/1.31 configures a
sidecar and an egress gateway, and judged by the project's own evidence code.

Every expectation a check declares is judged here unless the bed cannot produce it at all
(``bed.applicable`` says why: istio-proxy-only headers, Kubernetes-only evidence).
"""

from __future__ import annotations

import pytest

from egress_e2e import catalog
from egress_e2e.scenario.expectations import ClusterCounter, LogLine

from .bed import LOOPBACK_CONNECT, TOPOLOGIES, Bed, applicable

pytestmark = pytest.mark.timeout(60)

CASES = [(scenario, step, index)
         for (scenario, step), topology in TOPOLOGIES.items() if step >= 0
         for index, _check in enumerate(catalog.by_id(scenario).steps[step].checks)
         if topology.checks is None or index in topology.checks]


@pytest.mark.parametrize(("scenario", "step", "index"), CASES,
                         ids=[f"{s}-step{t}-check{i}" for s, t, i in CASES])
def test_catalog_check_holds_on_real_envoy(bed: Bed, scenario: str, step: int,
                                           index: int) -> None:
    check = catalog.by_id(scenario).steps[step].checks[index]
    flow = bed.flow(scenario, step)
    kept, skipped = applicable(check.expect, flow.fakes)
    # The bed must judge the gateway's evidence, not skip it: its access log, or (where the
    # gateway logs nothing, as the connect-tunnel EnvoyFilter's tcp_proxies) its counters.
    assert any((isinstance(e, LogLine) and e.proxy == "gateway")
               or isinstance(e, ClusterCounter) for e in kept), kept
    assert all("peer_metadata" in reason or reason == LOOPBACK_CONNECT
               for _, reason in skipped), skipped
    # As the runner does: the check must hold for ``consecutive`` probes in a row.
    for attempt in range(check.consecutive):
        observed, problems = flow.check(check)
        assert problems == [], "\n".join([f"attempt {attempt + 1}:", *problems,
                                          observed.probe.describe()])
