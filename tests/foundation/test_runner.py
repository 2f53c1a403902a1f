"""The scenario runner against a recording Kubernetes API and the real local fake internet.

The Kubernetes API cannot run here, so ``RecordingKube`` keeps what the runner sends (applies,
waits, execs, deletes) and answers like a cluster whose pods are Ready. Its ``exec`` runs the
probe's curl for real, here, pointed at the local nginx/httpbin fakes: the probe, the
evidence, the waits and the verification are the real ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from egress_e2e import catalog
from egress_e2e.core.errors import WaitTimeout
from egress_e2e.core.timings import PhaseTimer
from egress_e2e.fakes import local
from egress_e2e.rendering.layout import PROTECTED_NAMESPACES
from egress_e2e.running.runner import ScenarioRun, selector_of
from egress_e2e.scenario import hosts
from egress_e2e.scenario.expectations import Echoed, FakeSaw, LogLine, Status
from egress_e2e.scenario.model import Check, Curl, Step
from egress_e2e.session.environment import E2EEnvironment, FakeInternetInfo

from .recording import FAST, Item, LocalLogs, RecordingKube


@pytest.fixture(scope="module")
def fakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local.LocalFakes]:
    with local.start(tmp_path_factory.mktemp("fakes")) as running:
        yield running


def _env(fakes: local.LocalFakes, tmp_path: Path) -> E2EEnvironment:
    return E2EEnvironment(
        run_id=fakes.run_id, kubeconfig=tmp_path / "kubeconfig", istio_version="1.31.1",
        kubernetes_version="v1.37.0", cluster_name="egress-e2e-1-31", kind_version="v0.33.0",
        created_cluster=False, artifacts_dir=tmp_path / "artifacts", private_dir=tmp_path,
        fakes=FakeInternetInfo(placement="containers", pki_dir=fakes.pki.directory, dns={},
                               connect_proxy_address="127.0.0.1"),
    )



# seed 001's ServiceEntry step, with what the local fakes can show without a mesh.
REACHES_FAKE = Check(
    "plain HTTP reaches the fake, stamped with this run",
    Curl(f"http://{hosts.HTTPBIN}/headers"),
    (Status(200), FakeSaw(scheme="http", server_block="httpbin-http"),
     Echoed("X-Envoy-Internal", absent=True), LogLine(proxy="gateway", present=False)),
)


def _scenario(check: Check) -> Any:
    base = catalog.by_id("serviceentry-direct")
    return replace(base, steps=(Step("the ServiceEntry", apply=("serviceentry",),
                                     checks=(check,)),))


def _run(fakes: local.LocalFakes, tmp_path: Path, check: Check
         ) -> tuple[ScenarioRun, RecordingKube, Item]:
    kube, item = RecordingKube(fakes), Item()
    run = ScenarioRun(_scenario(check), _env(fakes, tmp_path), kube, PhaseTimer(emit=print),
                      item, timeouts=FAST, fake_logs=LocalLogs(fakes))
    return run, kube, item


def test_a_scenario_applies_waits_probes_and_cleans_up(fakes: local.LocalFakes,
                                                        tmp_path: Path) -> None:
    run, kube, item = _run(fakes, tmp_path, REACHES_FAKE)
    run.execute()
    run.cleanup()

    kinds = [call[0] for call in kube.calls]
    # Base first (namespaces lead it), then the step's ServiceEntry, then probes, then cleanup.
    first_apply = next(docs for kind, docs in kube.calls if kind == "apply")
    assert first_apply[0]["kind"] == "Namespace"
    secrets = [d for d in first_apply if d["kind"] == "Secret"]
    assert secrets and any(fakes.pki.ca_cert.read_text().strip() in json.dumps(d["data"] if
                           "data" in d else d.get("stringData", {})).replace("\\n", "\n")
                           for d in secrets)
    step_apply = [docs for kind, docs in kube.calls if kind == "apply"][1]
    assert [d["kind"] for d in step_apply] == ["ServiceEntry"]
    assert step_apply[0]["metadata"]["namespace"] == run.layout.client_ns

    waited = {args for kind, args in kube.calls if kind == "pods"}
    assert (run.layout.client_ns, "app=curl,egress-e2e/client-role=curl") in waited
    gateway_selector = ",".join(f"{k}={v}" for k, v in run.layout.gateway_labels)
    assert (run.layout.gateway_ns, gateway_selector) in waited
    execs = [args for kind, args in kube.calls if kind == "exec"]
    assert execs and all(e[:3] == (run.layout.client_ns, "curl", "curl") for e in execs)
    assert len(execs) >= REACHES_FAKE.consecutive
    assert any(a.startswith("x-request-id: ") for a in execs[0][3])

    deleted = [args for kind, args in kube.calls if kind == "delete_namespace"]
    assert deleted and set(deleted) == set(run.layout.owned_namespaces)
    assert not set(deleted) & PROTECTED_NAMESPACES
    assert kinds.index("delete_namespace") > max(i for i, k in enumerate(kinds) if k == "exec")

    observed = run.last_observation
    assert observed is not None and observed.probe.status == 200
    assert observed.probe.headers.get(hosts.PROVENANCE) == fakes.run_id
    assert observed.run_id == fakes.run_id  # the session's run id, compared by FakeSaw
    names = [name for name, _ in item.user_properties]
    for phase in ("apply", "propagate", "probe", "cleanup"):
        assert f"phase_{phase}" in names
    evidence = [json.loads(str(v)) for n, v in item.user_properties if n == "evidence"]
    assert evidence and evidence[0]["status"] == 200


def test_a_check_that_never_holds_gives_up_with_the_last_observation(
        fakes: local.LocalFakes, tmp_path: Path) -> None:
    wrong = replace(REACHES_FAKE, name="expects a 503", expect=(Status(503),))
    run, _, item = _run(fakes, tmp_path, wrong)
    with pytest.raises(WaitTimeout) as info:
        run.execute()
    message = str(info.value)
    assert "serviceentry-direct: expects a 503" in message
    assert "expected 503" in message and "HTTP 200" in message
    files = run.diagnostics_files()
    assert "HTTP 200" in files["observation.txt"] or "status: 200" in files["probe.txt"]
    assert "BEGIN" not in files["manifests/applied.yaml"].replace("BEGIN CERTIFICATE", "")
    assert any(name == "evidence" for name, _ in item.user_properties)


def test_an_answer_stamped_by_another_run_is_not_this_runs_fake(
        fakes: local.LocalFakes, tmp_path: Path) -> None:
    """X-Fake-Internet must equal the session's run id: here the session's id differs from
    the one the fakes stamp (another run's fake internet answered), so FakeSaw never holds."""
    run, _, _ = _run(fakes, tmp_path, replace(REACHES_FAKE, expect=(FakeSaw(),)))
    run.observer.run_id = "another-run"  # as if the session were another run
    with pytest.raises(WaitTimeout) as info:
        run.execute()
    assert f"expected X-Fake-Internet 'another-run' (this run), got {fakes.run_id!r}" in str(
        info.value)


def test_a_failing_run_writes_its_bundle_before_it_cleans_up(
        fakes: local.LocalFakes, tmp_path: Path) -> None:
    wrong = replace(REACHES_FAKE, name="expects a 503", expect=(Status(503),))
    run, kube, item = _run(fakes, tmp_path, wrong)
    gathered: list[int] = []

    def gather(items: Any, *, timeout: float) -> dict[str, str]:
        # The failing state must still be there: nothing deleted yet.
        assert not [c for c in kube.calls if c[0] == "delete_namespace"]
        gathered.append(len(items))
        return {"pods/client/curl.log": "seen"}

    run.gather = gather
    with pytest.raises(WaitTimeout, match="expects a 503"):
        run.run()
    assert gathered and gathered[0] > 0
    bundle = (tmp_path / "artifacts" / fakes.run_id
              / "scenarios_test_catalog.py_test_scenario_serviceentry-direct")
    assert (bundle / "pods/client/curl.log").read_text() == "seen"
    assert "HTTP 200" in (bundle / "observation.txt").read_text()
    assert ("diagnostics", str(bundle)) in item.user_properties
    assert item.sections and str(bundle) in item.sections[0][2]
    deleted = {args for kind, args in kube.calls if kind == "delete_namespace"}
    assert deleted == set(run.layout.owned_namespaces)


def test_a_passing_run_cleans_up_and_writes_no_bundle(fakes: local.LocalFakes,
                                                      tmp_path: Path) -> None:
    run, kube, _ = _run(fakes, tmp_path, REACHES_FAKE)
    run.gather = lambda items, *, timeout: pytest.fail("no bundle for a passing run")
    run.run()
    # Only the observation record: no diagnostics bundle.
    assert [p.name for p in (tmp_path / "artifacts").iterdir()] == ["observations"]
    assert {args for kind, args in kube.calls if kind == "delete_namespace"} == set(
        run.layout.owned_namespaces)


def test_selector_comes_from_the_workload_document() -> None:
    from egress_e2e.rendering.render import Document

    deployment = Document("base/gateway.yaml", 1, {
        "kind": "Deployment", "metadata": {"name": "gw"},
        "spec": {"selector": {"matchLabels": {"istio": "gateway-abc", "app": "gw"}}}})
    pod = Document("base/clients.yaml", 2,
                   {"kind": "Pod", "metadata": {"name": "curl", "labels": {"app": "curl"}}})
    assert selector_of(deployment) == "app=gw,istio=gateway-abc"
    assert selector_of(pod) == "app=curl"


def test_every_check_leaves_its_observation_record(fakes: local.LocalFakes,
                                                   tmp_path: Path) -> None:
    """One file per scenario and version, its checks in order, written as each check ends: a
    failing check's record is there too, with the verdict that failed."""
    from egress_e2e.evidence import observations

    wrong = replace(REACHES_FAKE, name="expects a 503", expect=(Status(503),), consecutive=1)
    scenario = replace(_scenario(REACHES_FAKE), steps=(
        Step("the ServiceEntry", apply=("serviceentry",), checks=(REACHES_FAKE, wrong)),))
    run = ScenarioRun(scenario, _env(fakes, tmp_path), RecordingKube(fakes),
                      PhaseTimer(emit=print), Item(), timeouts=FAST, fake_logs=LocalLogs(fakes))
    with pytest.raises(WaitTimeout):
        run.execute()
    path = tmp_path / "artifacts" / "observations" / "1.31.1" / "serviceentry-direct.json"
    assert path.stat().st_mode & 0o777 == 0o644
    record = observations.read(path)
    assert record.versions == observations.Versions("1.31.1", "v1.37.0", "v0.33.0", "sidecar")
    assert record.run_id == fakes.run_id
    reached, failed = record.checks
    assert [reached.name, failed.name] == [REACHES_FAKE.name, "expects a 503"]
    assert reached.passed and [v.expectation for v in reached.verdicts] == list(
        REACHES_FAKE.expect)
    assert reached.probe.argv[reached.probe.argv.index("-A") + 1] == reached.probe.marker
    assert reached.client.status == 200
    assert (hosts.PROVENANCE.lower(), fakes.run_id) in reached.client.headers
    # The fake's own log line for this probe, raw, found by the marker it logs.
    assert reached.fake_log and all(reached.probe.marker in line for line in reached.fake_log)
    assert reached.identities == run.layout.identities("curl")
    [verdict] = failed.verdicts
    assert not verdict.passed and verdict.messages[0].startswith(
        "status: expected 503, got HTTP 200")
    # What it recorded still holds through today's parser and verification.
    assert observations.replay(record) == []


def test_a_scenario_file_runs_against_the_fakes_its_hosts_declare(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    """A user's scenario file (tests/userfiles/files/partner-direct.yaml), loaded as
    --scenarios-dir loads it: its hosts are what the fakes answer, its resources what the run
    applies, and its checks hold against the real local fakes."""
    from egress_e2e.fakes import declared
    from egress_e2e.running import scenario_dirs

    files_dir = Path(__file__).resolve().parents[1] / "userfiles" / "files"
    user = scenario_dirs.load((files_dir,))
    loaded = user.file_of("partner-direct")
    assert loaded is not None
    answered = declared.DeclaredHosts.of((h.name, h.kind) for h in loaded.fake_hosts)
    with local.start(tmp_path_factory.mktemp("declared-fakes"),
                     declared_hosts=answered) as fakes:
        kube, item = RecordingKube(fakes), Item(nodeid="scenarios/test_catalog.py::"
                                                       "test_scenario[partner-direct]")
        run = ScenarioRun(loaded.scenario, _env(fakes, tmp_path), kube, PhaseTimer(emit=print),
                          item, timeouts=FAST, fake_logs=LocalLogs(fakes))
        run.execute()
        run.cleanup()
    applied = [docs for kind, docs in kube.calls if kind == "apply"][1]
    assert [(d["kind"], d["spec"]["hosts"]) for d in applied] == [
        ("ServiceEntry", ["billing.partner.example"]),
        ("ServiceEntry", ["secure.partner.example"])]
    assert all(d["metadata"]["namespace"] == run.layout.client_ns for d in applied)
    observed = run.last_observation
    assert observed is not None and observed.probe.status == 200
    assert observed.probe.headers.get(hosts.PROVENANCE) == fakes.run_id
    assert observed.probe.headers.get(hosts.SAW_SNI) == "secure.partner.example"
    execs = [args for kind, args in kube.calls if kind == "exec"]
    assert any("https://secure.partner.example/headers" in e[3] for e in execs)
    assert ("scenario_id", "partner-direct") in item.user_properties
