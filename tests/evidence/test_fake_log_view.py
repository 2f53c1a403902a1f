"""When nginx answers a request itself (no echo body), what it saw comes from its own access
log: checked against the real local fake, on the mTLS port without a client certificate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from egress_e2e.evidence import probe, verify
from egress_e2e.fakes import local
from egress_e2e.fakes.placement import wait_for_log_line
from egress_e2e.scenario import hosts
from egress_e2e.scenario.expectations import Body, FakeSaw, Status
from egress_e2e.scenario.identity import Identities
from egress_e2e.scenario.model import Curl


@pytest.fixture(scope="module")
def fakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local.LocalFakes]:
    with local.start(tmp_path_factory.mktemp("log-view")) as running:
        yield running


def test_a_refused_client_is_judged_from_the_fakes_log(fakes: local.LocalFakes,
                                                       tmp_path: Path) -> None:
    prepared = probe.prepare(Curl(f"{fakes.mtls_url}/headers", trust_fake_ca=True,
                                  extra_args=tuple(fakes.curl_resolve())),
                             cert_dir=str(fakes.pki.directory))
    result = probe.run_local(prepared)
    assert result.status == 400
    wait_for_log_line(fakes.nginx_access_log, result.request_id, what="nginx log")
    observed = verify.Observation(probe=result, fake_log=fakes.nginx_access_log())
    ids = Identities("gw", "gw", "ns", "curl")

    holds = [Status(400), Body("No required SSL certificate was sent"),
             FakeSaw(port=fakes.ports.mtls, sni=hosts.MTLS_SERVER, client_verify="NONE",
                     scheme="https")]
    assert verify.verify(holds, observed, ids) == []
    wrong = verify.verify([FakeSaw(client_verify="SUCCESS")], observed, ids)
    assert wrong == ["fake saw client verify: expected 'SUCCESS', got 'NONE'"]
    # Without the log, nothing says what the fake saw: the check says so instead of passing.
    bare = verify.Observation(probe=result)
    assert verify.verify([FakeSaw(client_verify="NONE")], bare, ids)[0].startswith("fake saw:")
