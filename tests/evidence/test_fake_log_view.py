"""When nginx answers a request itself (no echo body), what it saw is still on its answer: the
headers it adds with ``always`` (manifests/external/nginx.conf.j2). Its access log, found by the
probe's marker, is the witness only when no answer reached the client. Checked against the real
local fake, on the mTLS port without a client certificate."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from egress_e2e.evidence import probe, verify
from egress_e2e.evidence.echo import Headers
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


def test_a_refused_client_is_judged_from_the_fakes_answer(fakes: local.LocalFakes,
                                                          tmp_path: Path) -> None:
    prepared = probe.prepare(Curl(f"{fakes.mtls_url}/headers", trust_fake_ca=True,
                                  extra_args=tuple(fakes.curl_resolve())),
                             cert_dir=str(fakes.pki.directory))
    result = probe.run_local(prepared)
    assert result.status == 400
    # nginx's own 400 carries the run id and what it saw.
    assert result.headers[hosts.PROVENANCE] == fakes.run_id
    assert result.headers[hosts.SAW_CLIENT_VERIFY] == "NONE"
    assert result.headers[hosts.SAW_PORT] == str(fakes.ports.mtls)
    observed = verify.Observation(probe=result, run_id=fakes.run_id)
    ids = Identities("gw", "gw", "ns", "curl")

    holds = [Status(400), Body("No required SSL certificate was sent"),
             FakeSaw(port=fakes.ports.mtls, sni=hosts.MTLS_SERVER, client_verify="NONE",
                     scheme="https")]
    assert verify.verify(holds, observed, ids) == []
    wrong = verify.verify([FakeSaw(client_verify="SUCCESS")], observed, ids)
    assert wrong == ["fake saw client verify: expected 'SUCCESS', got 'NONE'"]


def test_the_stamp_must_be_this_runs(fakes: local.LocalFakes) -> None:
    """A stamp is not enough: an answer from another run's fake (or any server that copies the
    header) is not this run's fake."""
    prepared = probe.prepare(Curl(f"{fakes.http_url}/headers",
                                  extra_args=tuple(fakes.curl_resolve())))
    result = probe.run_local(prepared)
    assert result.status == 200
    ids = Identities("gw", "gw", "ns", "curl")
    mine = verify.Observation(probe=result, run_id=fakes.run_id)
    assert verify.verify([FakeSaw(scheme="http", port=fakes.ports.http)], mine, ids) == []
    other = verify.Observation(probe=result, run_id="another-run")
    assert verify.verify([FakeSaw()], other, ids) == [
        f"fake: expected {hosts.PROVENANCE} 'another-run' (this run), got {fakes.run_id!r}"]
    # Not reached holds only without any stamp, whatever its run.
    assert verify.verify([FakeSaw(reached=False)], other, ids)


def test_without_an_answer_the_log_is_the_witness(fakes: local.LocalFakes) -> None:
    prepared = probe.prepare(Curl(f"{fakes.mtls_url}/headers", trust_fake_ca=True,
                                  extra_args=tuple(fakes.curl_resolve())),
                             cert_dir=str(fakes.pki.directory))
    answered = probe.run_local(prepared)
    wait_for_log_line(fakes.nginx_access_log, answered.marker, what="nginx log")
    # As if a proxy had dropped the answer: no headers reached the client.
    result = dataclasses.replace(answered, headers=Headers(), status=None)
    ids = Identities("gw", "gw", "ns", "curl")
    logged = verify.Observation(probe=result, fake_log=fakes.nginx_access_log(),
                                run_id=fakes.run_id)
    assert verify.verify([FakeSaw(port=fakes.ports.mtls, client_verify="NONE")], logged,
                         ids) == []
    assert verify.verify([FakeSaw(client_verify="SUCCESS")], logged, ids) == [
        "fake saw client verify (from its log): expected 'SUCCESS', got 'NONE'"]
    assert verify.verify([FakeSaw(reached=False)], logged, ids)
    # Without the log either, nothing says the fake was reached: the check says so.
    bare = verify.Observation(probe=result, run_id=fakes.run_id)
    assert verify.verify([FakeSaw(client_verify="NONE")], bare, ids)[0].startswith(
        "fake: expected reached, got no")
