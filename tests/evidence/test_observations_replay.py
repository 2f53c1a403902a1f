"""Every observation record under tests/evidence/observations/ (the seed fixtures and whatever
``egress-e2e observations import`` brought in from a nightly) replayed through today's access-log
parser and verification: what passed still passes, what failed still fails the same way."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from egress_e2e import catalog
from egress_e2e.core.errors import ConfigError
from egress_e2e.evidence import observations
from egress_e2e.infra import versions
from egress_e2e.scenario.expectations import Expectation

from .seed_bodies import OBSERVATIONS

RECORDS = observations.find(OBSERVATIONS)
NEWEST_KNOWN = versions.load().known_istio[-1]


def current(scenario_id: str, check_name: str) -> Sequence[Expectation] | None:
    """Today's catalog expectations for a check it still has; None: the recorded ones."""
    try:
        scenario = catalog.by_id(scenario_id)
    except ConfigError:
        return None  # a seed's or a retired scenario: judged by what it recorded
    found = [c.expect for c in scenario.checks if c.name == check_name]
    return found[0] if found else None


def _where(path: Path) -> str:
    return str(path.relative_to(OBSERVATIONS.parent))


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: str(p.relative_to(OBSERVATIONS)))
def test_record_still_holds(path: Path) -> None:
    record = observations.read(path)
    assert path == observations.record_path(OBSERVATIONS, record.versions.istio, record.scenario)
    problem = observations.replay_problem(_where(path), record, current, NEWEST_KNOWN)
    if problem is not None:
        pytest.fail(problem, pytrace=False)


def test_the_seed_records_are_there_and_hold_both_outcomes() -> None:
    scenarios = {observations.read(p).scenario for p in RECORDS}
    assert {"seed001-http-via-gateway", "seed001-passthrough", "seed001-se-only-sidecar",
            "seed001-istio-mutual-plain-http"} <= scenarios
    checks = [c for p in RECORDS for c in observations.read(p).checks]
    assert any(c.passed for c in checks) and any(not c.passed for c in checks)


# --- a replay that must fail, on real files ------------------------------------------------

def _seed(name: str) -> dict[str, Any]:
    [path] = OBSERVATIONS.glob(f"*/seed001-{name}.json")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _replayed(data: dict[str, Any], tmp_path: Path, version: str | None = None) -> str | None:
    changed = copy.deepcopy(data)
    if version is not None:
        changed["versions"]["istio"] = version
    record = observations.from_json(changed, "edited")
    path = observations.record_path(tmp_path, record.versions.istio, record.scenario)
    observations.write(record, path)
    return observations.replay_problem(str(path), observations.read(path), current,
                                       NEWEST_KNOWN)


def test_a_passing_check_that_no_longer_holds_fails_in_one_line(tmp_path: Path) -> None:
    data = _seed("http-via-gateway")
    [check] = data["checks"]
    # The recorded gateway line, as if Istio had logged another cluster for the same request.
    check["gateway_log"] = [check["gateway_log"][0].replace("outbound|80||httpbin.org",
                                                           "PassthroughCluster")]
    problem = _replayed(data, tmp_path)
    assert problem == (
        "seed001-http-via-gateway on Istio 1.22.1: check 'HTTP through the egress gateway': "
        "LogLine(tcp=False, method='GET', path='/headers', protocol='HTTP/2', response_code=200,"
        " cluster='outbound|80||httpbin.org', downstream_local_port=8080) recorded passing, now "
        "fails: gateway log line for probe curl/7.83.1-DEV: cluster expected "
        "'outbound|80||httpbin.org', got 'PassthroughCluster'")


def test_a_failing_check_must_fail_the_same_way(tmp_path: Path) -> None:
    data = _seed("se-only-sidecar")
    assert _replayed(data, tmp_path) is None  # recorded failing, fails the same way
    failing = data["checks"][1]
    assert not failing["verdicts"][0]["passed"]
    # The echo, as if the sidecar now sent the gateway's metadata: the recorded failure is gone.
    failing["client"]["body"] = failing["client"]["body"].replace('"sidecar~', '"router~')
    problem = _replayed(data, tmp_path)
    assert problem is not None and "\n" not in problem
    assert problem.startswith(
        "seed001-se-only-sidecar on Istio 1.22.1: check \"a sidecar's answer is no proof of the "
        "gateway (recorded failing)\": Echoed(header='X-Envoy-Peer-Metadata-Id', "
        "startswith='router~') recorded failing (echoed X-Envoy-Peer-Metadata-Id: expected "
        "starting with 'router~', got 'sidecar~")
    assert problem.endswith("now passes")


def test_a_check_failing_differently_is_a_mismatch(tmp_path: Path) -> None:
    data = _seed("se-only-sidecar")
    verdict = data["checks"][1]["verdicts"][1]
    verdict["messages"] = ["echoed X-Envoy-Internal: expected equals 'true', got 'false'"]
    problem = _replayed(data, tmp_path)
    assert problem is not None
    assert "Echoed(header='X-Envoy-Internal', equals='true') fails differently: recorded " \
           "\"echoed X-Envoy-Internal: expected equals 'true', got 'false'\", now " \
           "'echoed X-Envoy-Internal: expected present, got absent'" in problem


def test_a_newer_istios_record_the_expectations_reject_is_named(tmp_path: Path) -> None:
    data = _seed("se-only-sidecar")
    # Known versions may keep a recorded failure; a newer one that fails is a finding.
    assert _replayed(data, tmp_path, version=NEWEST_KNOWN) is None
    newer = f"{int(NEWEST_KNOWN.split('.')[0]) + 1}.0.0"
    problem = _replayed(data, tmp_path, version=newer)
    path = tmp_path / newer / "seed001-se-only-sidecar.json"
    assert problem == (
        f"{path}: Istio {newer} is newer than the expectations know ({NEWEST_KNOWN}) and they "
        "reject it: seed001-se-only-sidecar: check \"a sidecar's answer is no proof of the "
        "gateway (recorded failing)\": Echoed(header='X-Envoy-Peer-Metadata-Id', "
        "startswith='router~'): echoed X-Envoy-Peer-Metadata-Id: expected starting with "
        "'router~', got 'sidecar~10.244.0.7~curl.default~default.svc.cluster.local'")
    # A newer record that holds is no finding.
    passing = _seed("passthrough")
    assert _replayed(passing, tmp_path, version=newer) is None


def test_a_recorded_line_that_no_longer_parses_is_a_mismatch(tmp_path: Path) -> None:
    data = _seed("passthrough")
    data["checks"][1]["gateway_log"] = ["[not a time] - - -"]
    problem = _replayed(data, tmp_path)
    assert problem is not None and "a recorded line no longer parses" in problem


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d.update(format_version=2), "format_version 2, this harness reads 1"),
    (lambda d: d.pop("checks"), "missing 'checks'"),
    (lambda d: d["checks"][0]["client"].update(status="200"), "'status' should be int, got '200'"),
    (lambda d: d["checks"][0]["verdicts"][0]["expectation"].update(kind="Nope"),
     "unknown expectation kind 'Nope'"),
    (lambda d: d["checks"][0]["verdicts"][0].update(passed=False),
     "'passed' contradicts its messages"),
])
def test_a_bad_record_is_one_line(tmp_path: Path, edit: Any, message: str) -> None:
    data = _seed("http-via-gateway")
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as info:
        observations.read(path)
    assert str(info.value).startswith(f"{path}: not an observation record: ")
    assert message in str(info.value) and "\n" not in str(info.value)
