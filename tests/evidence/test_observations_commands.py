"""``observations import`` and ``observations diff`` on records the runner wrote, and the
redaction of what a record quotes: the runner runs offline as in tests/foundation/test_runner.py
(a recording Kubernetes API whose execs run curl here, against the real local fake internet)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from egress_e2e import catalog, cli
from egress_e2e.core.errors import ConfigError
from egress_e2e.core.redact import REDACTED
from egress_e2e.core.timings import PhaseTimer
from egress_e2e.evidence import observations
from egress_e2e.fakes import local
from egress_e2e.report import observations as records
from egress_e2e.running.runner import ScenarioRun
from egress_e2e.scenario import hosts
from egress_e2e.scenario.expectations import LogLine, Status
from egress_e2e.scenario.model import Check, Curl, Step
from egress_e2e.session.environment import E2EEnvironment, FakeInternetInfo

from ..foundation.recording import FAST, Item, LocalLogs, RecordingKube

CHECK = Check("the probe through the gateway", Curl(f"http://{hosts.HTTPBIN}/headers"),
              (Status(200), LogLine(proxy="gateway", method="GET")), consecutive=1)


@dataclass
class GatewayKube(RecordingKube):
    """The recording API, whose gateway pod logs an Istio TEXT access-log line for every probe
    it ran (its marker as User-Agent), with ``cluster`` and ``flags``: an Istio upgrade's
    change of what the gateway logs, without a gateway (none can run here)."""

    cluster: str = "outbound|80||httpbin.org"
    flags: str = "-"
    markers: list[str] = field(default_factory=list)

    def exec(self, namespace: str, pod: str, container: str, argv: Any, timeout: float) -> Any:
        if "-A" in argv:
            self.markers.append(argv[list(argv).index("-A") + 1])
        return super().exec(namespace, pod, container, argv, timeout)

    def logs(self, namespace: str, pod: str, container: str, *,
             since_seconds: int | None = None, previous: bool = False) -> str:
        if not namespace.startswith("serviceentry-direct-gw"):
            return ""
        return "".join(
            '[2099-01-01T00:00:00.000Z] "GET /headers HTTP/1.1" 200 '
            f'{self.flags} via_upstream - "-" 0 225 3 2 "10.0.0.9" "{marker}" "rid" '
            f'"httpbin.org" "10.0.0.7:80" {self.cluster} 10.0.0.8:4000 10.0.0.8:8080 '
            "10.0.0.9:5000 - -\n"
            "2099-01-01T00:00:00.000000Z\tinfo\tproxy chatter, not kept\n"
            for marker in self.markers)


@pytest.fixture(scope="module")
def fakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local.LocalFakes]:
    with local.start(tmp_path_factory.mktemp("fakes")) as running:
        yield running


def _record_run(fakes: local.LocalFakes, where: Path, check: Check = CHECK, *,
                istio: str = "1.31.1", **kube: Any) -> Path:
    """Run serviceentry-direct's one step with ``check``; the record it wrote."""
    env = E2EEnvironment(
        run_id=fakes.run_id, kubeconfig=where / "kubeconfig", istio_version=istio,
        kubernetes_version="v1.36.4", cluster_name="egress-e2e", kind_version="v0.33.0",
        created_cluster=False, artifacts_dir=where / "artifacts", private_dir=where,
        fakes=FakeInternetInfo(placement="containers", pki_dir=fakes.pki.directory, dns={},
                               connect_proxy_address="127.0.0.1"))
    scenario = replace(catalog.by_id("serviceentry-direct"),
                       steps=(Step("the ServiceEntry", apply=("serviceentry",), checks=(check,)),))
    run = ScenarioRun(scenario, env, GatewayKube(fakes, **kube), PhaseTimer(emit=print), Item(),
                      timeouts=FAST, fake_logs=LocalLogs(fakes))
    run.execute()
    assert run.observations_path.is_file()
    return run.observations_path


@pytest.fixture(scope="module")
def runs(fakes: local.LocalFakes, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Records of the same scenario: as run, after an "upgrade" (another cluster and flags in
    the gateway's line, a header the client adds), and one whose probe gets another status."""
    root = tmp_path_factory.mktemp("runs")
    upgraded = replace(CHECK, probe=replace(CHECK.probe, extra_args=("-H", "X-Added: yes")))
    teapot = replace(CHECK, probe=replace(CHECK.probe,
                                          url=f"http://{hosts.HTTPBIN}/status/418"),
                     expect=(Status(418),))
    return {
        "before": _record_run(fakes, root / "before"),
        "after": _record_run(fakes, root / "after", upgraded, istio="1.32.0",
                             cluster="PassthroughCluster", flags="UH"),
        "teapot": _record_run(fakes, root / "teapot", teapot),
    }


def test_the_runners_record_keeps_the_lines_for_its_probe(runs: dict[str, Path]) -> None:
    [check] = observations.read(runs["after"]).checks
    # One matching line of the gateway's log (its chatter and other probes' lines left out).
    [line] = check.gateway_log
    assert f'"{check.probe.marker}"' in line and "PassthroughCluster" in line
    assert check.passed and observations.replay(observations.read(runs["after"])) == []


def test_diff_shows_what_an_upgrade_changed(runs: dict[str, Path]) -> None:
    lines = records.diff_paths(runs["before"], runs["after"])
    head = "serviceentry-direct: the probe through the gateway"
    assert lines == [
        "serviceentry-direct: versions Istio 1.31.1, Kubernetes v1.36.4, kind v0.33.0, sidecar "
        "-> Istio 1.32.0, Kubernetes v1.36.4, kind v0.33.0, sidecar",
        f"{head}: echoed request header added: X-Added",
        f"{head}: gateway log: response_flags None -> 'UH'",
        f"{head}: gateway log: upstream_cluster 'outbound|80||httpbin.org' -> "
        "'PassthroughCluster'",
    ]
    status = records.diff_paths(runs["before"], runs["teapot"])
    assert f"{head}: status HTTP 200 -> HTTP 418" in status
    assert f"{head}: echoed request header gone: Host" in status
    assert records.diff_paths(runs["before"], runs["before"]) == []


def test_diff_command_exit_codes(runs: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                 tmp_path: Path) -> None:
    assert cli.main(["observations", "diff", str(runs["before"]), str(runs["before"])]) == 0
    assert capsys.readouterr().out == ""
    assert cli.main(["observations", "diff", str(runs["before"]), str(runs["teapot"])]) == 1
    assert "status HTTP 200 -> HTTP 418" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert cli.main(["observations", "diff", str(runs["before"]), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{bad}: not an observation record" in err
    with pytest.raises(SystemExit) as info:
        cli.main(["observations", "diff", str(runs["before"])])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        cli.main(["observations", "diff", "--help"])
    assert "exit status: 0 no difference, 1 differences found, 2 usage error" in " ".join(
        capsys.readouterr().out.split())


def _downloads(runs: dict[str, Path], root: Path) -> Path:
    """What ``download-artifact`` leaves: one directory per artifact, records nested below."""
    for name, attempt in (("before", 1), ("teapot", 2), ("after", 1)):
        source = runs[name].parents[1]  # artifacts/observations
        shutil.copytree(source, root / f"observations-{name}-attempt-{attempt}" / "nested")
    return root


def test_import_keeps_one_record_per_version_and_scenario(
        runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    downloads = _downloads(runs, tmp_path / "runs")
    into = tmp_path / "fixtures"
    assert cli.main(["observations", "import", str(downloads), "--into", str(into)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and all(line.startswith(f"imported {into}/") for line in out)
    assert sorted(str(p.relative_to(into)) for p in observations.find(into)) == [
        "1.31.1/serviceentry-direct.json", "1.32.0/serviceentry-direct.json"]
    # Two records of 1.31.1: the later attempt's (the teapot's) won.
    kept = observations.read(into / "1.31.1" / "serviceentry-direct.json")
    assert kept.checks[0].client.status == 418
    assert kept == observations.read(runs["teapot"])
    # The fixtures' own layout, so two versions' directories diff as they are.
    assert records.diff_paths(into / "1.31.1", into / "1.32.0") == records.diff_paths(
        runs["teapot"], runs["after"])
    assert (into / "1.31.1" / "serviceentry-direct.json").stat().st_mode & 0o777 == 0o644
    # A scenario recorded for one version only is a difference too.
    shutil.copy(runs["before"], into / "1.32.0" / "other.json")
    assert records.diff_paths(into / "1.31.1", into / "1.32.0")[0] == (
        f"other.json: only in {into / '1.32.0'}")


def test_import_writes_nothing_when_a_record_is_bad(runs: dict[str, Path],
                                                    tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    downloads = _downloads(runs, tmp_path / "runs")
    broken = downloads / "observations-x-attempt-1" / "1.31.1" / "broken.json"
    broken.parent.mkdir(parents=True)
    data = json.loads(runs["before"].read_text())
    del data["checks"][0]["probe"]["marker"]
    broken.write_text(json.dumps(data))
    into = tmp_path / "fixtures"
    with pytest.raises(ConfigError) as info:
        records.import_records([downloads], into)
    assert str(info.value) == f"{broken}: not an observation record: missing 'marker'"
    assert not into.exists()
    assert cli.main(["observations", "import", str(downloads), "--into", str(into)]) == 1
    assert capsys.readouterr().err == (
        f"egress-e2e: {broken}: not an observation record: missing 'marker'\n")
    assert not into.exists()


def test_no_secret_or_key_reaches_the_record(fakes: local.LocalFakes, tmp_path: Path) -> None:
    """Credentials the client sent, echoed back by httpbin, and a private key in the body: the
    written file holds none of them."""
    basic, cookie = "c2VjcmV0OnBhc3N3b3Jk", "s3cr3t-cookie-value"
    leaky = Check("a request carrying credentials and a key",
                  Curl(f"http://{hosts.HTTPBIN}/anything", extra_args=(
                      "-H", f"Authorization: Basic {basic}", "-H", f"Cookie: session={cookie}",
                      "--data-binary", "@/etc/fake-internet/client.key")),
                  (Status(200),), consecutive=1)
    path = _record_run(fakes, tmp_path, leaky)
    text = path.read_text()
    key = fakes.pki.directory.joinpath("client.key").read_text()
    assert "PRIVATE KEY-----" in key
    key_lines = [line for line in key.splitlines() if line and "-----" not in line]
    for secret in (basic, cookie, *key_lines):
        assert secret not in text
    assert "BEGIN PRIVATE KEY" not in text and "BEGIN EC PRIVATE KEY" not in text
    # They were there to hide: the echo, the argv and the key's place all say so.
    [check] = observations.read(path).checks
    assert f"Authorization: {REDACTED}" in check.probe.argv
    assert f'"Authorization": "{REDACTED}"' in check.client.body
    assert f"-----{REDACTED} PRIVATE KEY-----" in check.client.body


def test_a_record_that_cannot_be_written_is_one_warning(fakes: local.LocalFakes,
                                                        tmp_path: Path) -> None:
    blocked = tmp_path / "artifacts"
    blocked.write_text("a file where the artifacts directory should be")
    said: list[str] = []
    env = E2EEnvironment(
        run_id=fakes.run_id, kubeconfig=tmp_path / "kubeconfig", istio_version="1.31.1",
        kubernetes_version="v1.36.4", cluster_name="egress-e2e", kind_version=None,
        created_cluster=False, artifacts_dir=blocked, private_dir=tmp_path,
        fakes=FakeInternetInfo(placement="containers", pki_dir=fakes.pki.directory, dns={},
                               connect_proxy_address="127.0.0.1"))
    scenario = replace(catalog.by_id("serviceentry-direct"),
                       steps=(Step("the ServiceEntry", apply=("serviceentry",), checks=(CHECK,)),))
    run = ScenarioRun(scenario, env, GatewayKube(fakes), PhaseTimer(emit=print), Item(),
                      timeouts=FAST, fake_logs=LocalLogs(fakes), emit=said.append)
    run.execute()  # the check held; the record's failure does not fail it
    [warning] = said
    assert warning.startswith("[observations] serviceentry-direct: record not written: ")
