"""The pytest wiring, run for real through pytester: options, the collect-only path, the
one-line session failure without Docker, and the hand-off of the environment to workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from egress_e2e.session.environment import E2EEnvironment, FakeInternetInfo

SCENARIO_TEST = """
def test_one(egress_run):
    egress_run(None)

def test_two(egress_run):
    egress_run(None)
"""


def _project(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["egress_e2e.running.plugin"]')
    scenarios = pytester.mkdir("scenarios")
    (scenarios / "test_patterns.py").write_text(SCENARIO_TEST)
    pytester.makepyfile(test_offline="def test_offline():\n    assert 1 + 1 == 2\n")


def test_help_lists_every_option_with_its_env(pytester: pytest.Pytester) -> None:
    _project(pytester)
    result = pytester.runpytest_subprocess("--help")
    out = result.stdout.str()
    assert "istio-egress-e2e" in out
    for flag, env in (("--istio-version", "EGRESS_E2E_ISTIO_VERSION"),
                      ("--existing-kubeconfig", "EGRESS_E2E_EXISTING_KUBECONFIG"),
                      ("--timeout-scale", "EGRESS_E2E_TIMEOUT_SCALE")):
        assert flag in out and env in out


def test_collect_only_needs_no_cluster(pytester: pytest.Pytester,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _project(pytester)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = pytester.runpytest_subprocess("scenarios", "--collect-only", "-q")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["scenarios/test_patterns.py::test_one",
                                 "scenarios/test_patterns.py::test_two"])
    assert "Docker" not in result.stdout.str()


def test_offline_tests_never_touch_a_cluster(pytester: pytest.Pytester,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    _project(pytester)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = pytester.runpytest_subprocess("test_offline.py")
    result.assert_outcomes(passed=1)


def test_scenarios_without_docker_end_the_session_in_one_line(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    _project(pytester)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.setenv("EGRESS_E2E_ARTIFACTS_DIR", str(pytester.path / "artifacts"))
    result = pytester.runpytest_subprocess("scenarios")
    assert result.ret == 1
    text = result.stdout.str() + result.stderr.str()
    lines = [line for line in text.splitlines() if "Docker engine not reachable" in line]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    # No test ran, so no per-test errors: the session ended before collection finished.
    assert "test_one" not in text and "ERROR" not in text.replace("egress-e2e", "")
    timings = pytester.path / "artifacts" / "timings.json"
    assert timings.is_file() and '"exitstatus"' in timings.read_text()


def test_bad_option_value_is_one_line(pytester: pytest.Pytester) -> None:
    _project(pytester)
    result = pytester.runpytest_subprocess("scenarios", "--timeout-scale", "-2")
    assert result.ret == 1
    assert "egress-e2e: --timeout-scale must be > 0, got -2" in result.stdout.str()


def test_bad_kubeconfig_is_one_line_and_leaves_nothing(pytester: pytest.Pytester,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _project(pytester)
    kubeconfig = pytester.path / "kubeconfig.yaml"
    kubeconfig.write_text("garbage: [\n")
    private = pytester.path / "tmp"
    private.mkdir()
    monkeypatch.setenv("TMPDIR", str(private))
    result = pytester.runpytest_subprocess("scenarios", "--existing-kubeconfig", str(kubeconfig))
    assert result.ret == 1
    # Caught by the cheap checks, before any session work.
    assert f"egress-e2e: --existing-kubeconfig {kubeconfig}: not valid YAML" in result.stdout.str()
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert list(private.iterdir()) == []  # the run's private directory went with the failure


def test_environment_round_trips_through_worker_input(tmp_path: Path) -> None:
    env = E2EEnvironment(
        run_id="abc123", kubeconfig=tmp_path / "kubeconfig", istio_version="1.31.1",
        kubernetes_version="v1.37.0", cluster_name="egress-e2e-1-31", kind_version="v0.33.0",
        created_cluster=True, artifacts_dir=tmp_path / "artifacts", private_dir=tmp_path / "p",
        timeout_scale=2.0,
        fakes=FakeInternetInfo(placement="containers", pki_dir=tmp_path / "p" / "pki",
                               dns={"httpbin.org": "172.18.0.9"}),
    )
    again = E2EEnvironment.from_json(env.to_json())
    assert again == env
    assert again.describe()["istio_version"] == "1.31.1"
