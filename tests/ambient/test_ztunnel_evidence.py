"""ztunnel's access log as evidence: ``ZtunnelLine`` judged on lines in ztunnel release-1.31's
format (the ones tests/ambient/test_ztunnel_log.py builds from src/telemetry.rs and
src/proxy/metrics.rs), the observer reading every ztunnel pod's log through the recording API
while a real curl runs against the local fakes, the observation record keeping and replaying
those lines, the explain words, and the two ambient scenarios that use it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from egress_e2e import catalog, cli
from egress_e2e.catalog import ambient as ambient_catalog
from egress_e2e.core.timeouts import Timeouts
from egress_e2e.evidence import observations, verify, ztunnel
from egress_e2e.evidence.echo import Headers
from egress_e2e.evidence.observe import ZTUNNEL_CONTAINER, ZTUNNEL_SELECTOR, Needs, Observer
from egress_e2e.evidence.probe import ProbeResult
from egress_e2e.fakes import local
from egress_e2e.rendering.layout import Layout
from egress_e2e.report.explain import expectation_words
from egress_e2e.scenario import hosts
from egress_e2e.scenario.expectations import LogLine, ZtunnelLine
from egress_e2e.scenario.identity import Identities

from ..foundation.recording import LocalLogs, RecordingKube
from .test_ztunnel_log import BLOCKED, CLIENT_NS, DIRECT, EARLY_DENY, OTHER, VIA_WAYPOINT

SOURCE = (CLIENT_NS, "curl")
# The test lines were logged between 22:41:07 and 22:41:16.
WINDOW = (datetime(2026, 12, 1, 22, 41, 6, tzinfo=UTC), datetime(2026, 12, 1, 22, 41, 17,
                                                                  tzinfo=UTC))
IDS = Identities(gateway_ns="egress", gateway_sa="waypoint", client_ns=CLIENT_NS,
                 client_sa="curl", other_client_ns="other", other_client_sa="curl",
                 trust_domain="cluster.local")


def _probe(url: str = f"http://{hosts.HTTPBIN}/headers",
           window: tuple[datetime, datetime] = WINDOW) -> ProbeResult:
    return ProbeResult(request_id="r", url=url, argv=("curl",), exit_code=0, status=200,
                       http_version="1.1", headers=Headers(()), body="{}", error=None, stderr="",
                       started=window[0], finished=window[1],
                       marker="egress-e2e-probe/0123456789abcdef")


def _observed(*lines: str, window: tuple[datetime, datetime] = WINDOW) -> verify.Observation:
    return verify.Observation(probe=_probe(window=window),
                              ztunnel_log=tuple(ztunnel.parse_all("".join(lines))),
                              ztunnel_source=SOURCE)


def _judge(expectation: ZtunnelLine, observed: verify.Observation) -> list[str]:
    return verify.verify([expectation], observed, IDS)


def test_the_waypoint_scenarios_line_holds_on_a_connection_to_the_waypoint() -> None:
    assert _judge(ambient_catalog.ZTUNNEL_TO_WAYPOINT, _observed(VIA_WAYPOINT)) == []
    assert _judge(ZtunnelLine(bytes_recv_at_least=490), _observed(VIA_WAYPOINT)) == []


def test_a_direct_connection_fails_the_waypoint_line_once_per_field() -> None:
    problems = _judge(ambient_catalog.ZTUNNEL_TO_WAYPOINT, _observed(DIRECT))
    assert len(problems) == 3
    via, service, port = problems
    assert via.startswith(f"ztunnel log line for {CLIENT_NS}/curl's outbound connection")
    assert "via_waypoint expected True, got False" in via
    assert "dst_service expected 'httpbin.org', got 'jsonplaceholder.typicode.com'" in service
    assert "dst_port expected 15008, got 80" in port
    # And the other way round: the no-waypoint scenario's line rejects the waypoint hop.
    problems = _judge(ambient_catalog.ZTUNNEL_STRAIGHT_OUT, _observed(VIA_WAYPOINT))
    assert [p.split(": ", 1)[1].split(",")[0] for p in problems] == [
        "via_waypoint expected False", "dst_service expected 'jsonplaceholder.typicode.com'",
        "dst_port expected 80"]


def test_any_one_matching_connection_is_enough() -> None:
    # Both connections are the client's in the window; the direct one matches.
    assert _judge(ambient_catalog.ZTUNNEL_STRAIGHT_OUT, _observed(VIA_WAYPOINT, DIRECT)) == []


def test_errors_and_bytes() -> None:
    blocked = _observed(BLOCKED)
    [problem] = _judge(ZtunnelLine(ok=True), blocked)
    assert "ok expected True, got False" in problem and "error=connection timed out" in problem
    assert _judge(ZtunnelLine(ok=False, error_contains="NetworkPolicy"), blocked) == []
    [problem] = _judge(ZtunnelLine(error_contains="refused"), blocked)
    assert "error expected to contain 'refused', got 'connection timed out" in problem
    [problem] = _judge(ZtunnelLine(error_contains="refused"), _observed(DIRECT))
    assert problem.endswith("error expected to contain 'refused', got None")
    [problem] = _judge(ZtunnelLine(bytes_recv_at_least=1), blocked)
    assert problem.endswith("bytes_recv expected >= 1, got 0")


def test_only_the_clients_outbound_connections_in_the_window_count() -> None:
    other_pod = DIRECT.replace('src.workload="curl"', 'src.workload="curl-other"')
    other_ns = DIRECT.replace(f'src.namespace="{CLIENT_NS}"', 'src.namespace="default"')
    inbound = DIRECT.replace('direction="outbound"', 'direction="inbound"')
    early = EARLY_DENY   # no src.workload: ztunnel refused it before it knew the pod
    for lines in ([other_pod], [other_ns], [inbound], [early], ["\n".join(OTHER)]):
        [problem] = _judge(ZtunnelLine(), _observed(*lines))
        assert problem.startswith(f"ztunnel log: expected a line for {CLIENT_NS}/curl's "
                                  "outbound connection in the probe's time window, got none")
    later = (WINDOW[1] + timedelta(minutes=1), WINDOW[1] + timedelta(minutes=2))
    [problem] = _judge(ZtunnelLine(), _observed(DIRECT, window=later))
    assert "got none; last lines: [2026-12-01T22:41:09.000001+00:00] ztunnel outbound" in problem
    [problem] = _judge(ZtunnelLine(), _observed())
    assert problem.endswith("got none; last lines: log empty")


def test_absence() -> None:
    absent = ZtunnelLine(present=False)
    assert verify.needs_settle_window(absent)
    assert not verify.needs_settle_window(ZtunnelLine())
    assert _judge(absent, _observed()) == []
    [problem] = _judge(absent, _observed(DIRECT))
    assert problem.startswith(f"ztunnel log: expected no line for {CLIENT_NS}/curl's")
    assert "172.18.0.9:80" in problem


def test_describe_shows_the_probes_ztunnel_lines() -> None:
    text = verify.describe(_observed(VIA_WAYPOINT))
    assert "ztunnel log lines for this probe: " in text and "(hbone 240.240.0.3:80)" in text


def test_explain_words() -> None:
    assert expectation_words(ambient_catalog.ZTUNNEL_STRAIGHT_OUT) == (
        "ztunnel's access log (found by the client pod as source and the probe's time window; "
        "ztunnel logs no HTTP) has the probe's outbound connection, sent straight to the "
        "destination, not over HBONE to a waypoint, to service 'jsonplaceholder.typicode.com', "
        "connected to port 80, completed without error")
    assert "carried over HBONE to the waypoint" in expectation_words(
        ambient_catalog.ZTUNNEL_TO_WAYPOINT)
    assert expectation_words(ZtunnelLine(present=False)).endswith(
        "shows no outbound connection for this probe")
    assert expectation_words(ZtunnelLine(ok=False, error_contains="x", bytes_recv_at_least=2)) \
        .endswith("ended with an error, its error containing 'x', at least 2 byte(s) received")


def test_the_two_scenarios_assert_ztunnels_side(capsys: pytest.CaptureFixture[str]) -> None:
    bound, unbound = catalog.by_id("ambient-serviceentry-no-waypoint").checks
    assert ambient_catalog.ZTUNNEL_STRAIGHT_OUT in unbound.expect
    assert LogLine(proxy="gateway", present=False) in unbound.expect
    assert not any(isinstance(e, ZtunnelLine) for e in bound.expect)
    [http] = catalog.by_id("ambient-waypoint-http").checks
    assert ambient_catalog.ZTUNNEL_TO_WAYPOINT in http.expect
    assert Needs.of(unbound.expect).ztunnel_log and not Needs.of(bound.expect).ztunnel_log
    assert cli.main(["explain", "ambient-serviceentry-no-waypoint"]) == 0
    out = capsys.readouterr().out
    assert "expects: ztunnel's access log (found by the client pod" in out
    assert cli.main(["explain", "ambient-waypoint-http", "--json"]) == 0
    [check] = json.loads(capsys.readouterr().out)["checks"]
    assert {"type": "ZtunnelLine", "present": True, "via_waypoint": True,
            "dst_service": "httpbin.org", "dst_port": 15008, "ok": True} in check["expect"]


@pytest.fixture(scope="module")
def fakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local.LocalFakes]:
    with local.start(tmp_path_factory.mktemp("fakes")) as running:
        yield running


def _stamped(line: str, when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ") + line[line.index("\t"):]


def test_the_observer_reads_every_ztunnel_pod_and_verify_finds_the_probes_line(
        fakes: local.LocalFakes) -> None:
    scenario = catalog.by_id("ambient-serviceentry-no-waypoint")
    layout = Layout.isolated_for(scenario, fakes.run_id)
    _, check = scenario.checks
    # The client's connection as its ztunnel logs it when curl closes it (now), on the pod the
    # recording API lists for app=ztunnel.
    line = _stamped(DIRECT, datetime.now(UTC)).replace(CLIENT_NS, layout.client_ns)
    kube = RecordingKube(fakes,
                         log_texts={("istio-system", "ztunnel"): "\n".join(OTHER) + line})
    observer = Observer(kube, layout, LocalLogs(fakes), Timeouts(evidence=0.5, interval=0.05),
                        run_id=fakes.run_id)
    seen = observer.observe(check)   # a real curl through the local fakes
    assert seen.probe.status == 200
    assert ("pods", ("istio-system", ZTUNNEL_SELECTOR)) in kube.calls
    assert ("logs", ("istio-system", "ztunnel", ZTUNNEL_CONTAINER)) in kube.calls
    assert seen.ztunnel_source == (layout.client_ns, "curl")
    [entry] = seen.ztunnel_log
    assert entry.dst_service == hosts.JSONPLACEHOLDER
    ids = layout.identities()
    assert verify.verify([ambient_catalog.ZTUNNEL_STRAIGHT_OUT], seen, ids) == []
    [problem, *_] = verify.verify([ambient_catalog.ZTUNNEL_TO_WAYPOINT], seen, ids)
    assert "via_waypoint expected True, got False" in problem
    # The raw text is kept like the other logs', and the record keeps the probe's line only.
    assert observer.raw_logs[("istio-system", "ztunnel")].endswith(line)
    raw = observations.RawLogs(ztunnel=observer.last_ztunnel_text())
    record = observations.check_record(check, seen, ids, raw)
    assert record.ztunnel_log == (line.rstrip("\n"),)
    # (FakeSaw's port is the local fake's own here, not 80: the other verdicts are not this
    # test's.)
    [verdict] = [v for v in record.verdicts if isinstance(v.expectation, ZtunnelLine)]
    assert verdict.passed


def test_a_record_keeps_and_replays_ztunnel_lines(tmp_path: Path) -> None:
    scenario = catalog.by_id("ambient-serviceentry-no-waypoint")
    _, check = scenario.checks
    check = replace(check, expect=(ambient_catalog.ZTUNNEL_STRAIGHT_OUT,))
    seen = _observed(VIA_WAYPOINT, DIRECT)
    other = DIRECT.replace('src.workload="curl"', 'src.workload="curl-other"')
    raw = observations.RawLogs(ztunnel="\n".join([*OTHER, VIA_WAYPOINT, other, DIRECT]))
    kept = observations.check_record(check, seen, IDS, raw)
    assert kept.ztunnel_log == (VIA_WAYPOINT.rstrip("\n"), DIRECT.rstrip("\n"))
    record = observations.ObservationRecord(
        scenario=scenario.id, versions=observations.Versions("1.31.1", data_plane="ambient"),
        run_id="run-a", checks=(kept,))
    path = tmp_path / "record.json"
    observations.write(record, path)
    data = json.loads(path.read_text())
    assert data["checks"][0]["ztunnel_log"] == list(kept.ztunnel_log)
    again = observations.read(path)
    assert again.checks[0].ztunnel_log == kept.ztunnel_log
    assert observations.replay(again) == []
    # Without the direct line the record no longer holds.
    data["checks"][0]["ztunnel_log"] = [VIA_WAYPOINT.rstrip("\n")]
    path.write_text(json.dumps(data))
    [problem] = observations.replay(observations.read(path))
    assert "ZtunnelLine(" in problem and "recorded passing, now fails" in problem
    # A record written before ztunnel evidence has no such key.
    del data["checks"][0]["ztunnel_log"]
    data["checks"][0]["verdicts"] = []
    path.write_text(json.dumps(data))
    assert observations.read(path).checks[0].ztunnel_log == ()
