"""What costs nothing is checked first, in one line: a bad Istio version, a -k that selects no
scenario or a kubeconfig that cannot serve stops `make e2e`, `pytest scenarios` and
`egress-e2e preflight` before any Docker or cluster work, with nothing created; a setup error
prints once; a closed pipe is no traceback.

Every command runs for real (make, the venv's pytest and egress-e2e) on a machine without Docker:
DOCKER_HOST points at a socket that does not exist, so reaching Docker would say so.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("EGRESS_E2E_", "DOCKER_", "PYTEST_"))}
    env.update(DOCKER_HOST=f"unix://{tmp_path}/no-engine.sock",
               XDG_STATE_HOME=str(tmp_path / "state"), HOME=str(tmp_path / "home"))
    return env


def _lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    """What the harness printed: make's own `make: ***` line and the venv install note (on a
    venv's first use) are not the harness speaking about the run."""
    return [line for line in (done.stdout + done.stderr).splitlines()
            if line.strip() and not line.startswith("make")
            and not line.startswith("egress-e2e: installing pinned Python packages")]


def _nothing_created(tmp_path: Path) -> None:
    assert not (tmp_path / "artifacts").exists()
    assert not (tmp_path / "state").exists()  # no cluster recorded, no lock taken


@pytest.mark.parametrize(("variable", "value", "names"), [
    ("K", "does-not-exist", "-k 'does-not-exist' selects no scenario"),
    ("ISTIO_VERSION", "9.9.9", "unknown Istio version '9.9.9'"),
])
def test_make_e2e_stops_on_a_bad_value_in_one_line(tmp_path: Path, variable: str, value: str,
                                                   names: str) -> None:
    done = subprocess.run(
        ["make", "--no-print-directory", "e2e", f"{variable}={value}",
         f"ARTIFACTS={tmp_path}/artifacts", f"PYTHON={sys.executable}", f"VENV={sys.prefix}"],
        cwd=REPO, capture_output=True, text=True, env=_env(tmp_path), timeout=300, check=False)
    assert done.returncode != 0
    assert _lines(done) == [_lines(done)[0]], _lines(done)
    assert _lines(done)[0].startswith(f"egress-e2e: {names}")
    assert "Traceback" not in done.stdout + done.stderr
    _nothing_created(tmp_path)


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
@pytest.mark.parametrize(("args", "names"), [
    (["-k", "does-not-exist"], "egress-e2e: -k 'does-not-exist' selects no scenario (of "),
    (["-k", "passthrough and"], "egress-e2e: -k 'passthrough and': Wrong expression"),
    (["-m", "slow"], "egress-e2e: -m 'slow' selects no scenario"),
    (["--istio-version", "9.9.9"], "egress-e2e: unknown Istio version '9.9.9'; known: "),
])
def test_pytest_scenarios_checks_before_docker(tmp_path: Path, workers: list[str],
                                               args: list[str], names: str) -> None:
    done = subprocess.run(
        [str(BIN / "pytest"), "scenarios", "-p", "no:cacheprovider", *workers, *args,
         "--artifacts-dir", str(tmp_path / "artifacts")],
        cwd=REPO, capture_output=True, text=True, env=_env(tmp_path), timeout=120, check=False)
    assert done.returncode == 1
    assert len(_lines(done)) == 1 and _lines(done)[0].startswith(names), _lines(done)
    _nothing_created(tmp_path)


def test_a_setup_error_prints_once(tmp_path: Path) -> None:
    """Past the cheap checks the session reaches Docker, which is not there: one line, not a
    second `_pytest.outcomes.Exit` copy of it."""
    done = subprocess.run(
        [str(BIN / "pytest"), "scenarios", "-p", "no:cacheprovider", "-k", "passthrough",
         "--artifacts-dir", str(tmp_path / "artifacts")],
        cwd=REPO, capture_output=True, text=True, env=_env(tmp_path), timeout=120, check=False)
    assert done.returncode == 1
    text = done.stdout + done.stderr
    assert text.count("Docker engine not reachable") == 1, text
    assert "_pytest.outcomes.Exit" not in text and "Traceback" not in text


@pytest.mark.parametrize(("args", "names"), [
    (["-k", "does-not-exist"], "egress-e2e: -k 'does-not-exist' selects no scenario"),
    (["--istio-version", "9.9.9"], "egress-e2e: unknown Istio version '9.9.9'"),
])
def test_preflight_checks_the_cheap_things_before_docker(tmp_path: Path, args: list[str],
                                                         names: str) -> None:
    done = subprocess.run([str(BIN / "egress-e2e"), "preflight", *args], cwd=REPO,
                          capture_output=True, text=True, env=_env(tmp_path), timeout=60,
                          check=False)
    assert done.returncode == 1
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith(names), done.stderr


def test_preflight_with_a_good_selection_goes_on_to_docker(tmp_path: Path) -> None:
    done = subprocess.run([str(BIN / "egress-e2e"), "preflight", "-k", "passthrough"],
                          cwd=REPO, capture_output=True, text=True, env=_env(tmp_path),
                          timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("egress-e2e: Docker engine not reachable"), done.stderr


def test_a_closed_pipe_ends_list_quietly(tmp_path: Path) -> None:
    """`egress-e2e list | head -1`, with a reader that leaves before the first line."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run([str(BIN / "egress-e2e"), "list"], stdout=writer,
                              stderr=subprocess.PIPE, text=True, env=_env(tmp_path),
                              timeout=60, check=False)
    finally:
        os.close(writer)
    assert done.stderr == ""
    assert done.returncode == 141


@pytest.mark.parametrize(("content", "says"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not a text file, so not a kubeconfig"),
    (b"just-a-string\n", "not a kubeconfig (a YAML str, not a mapping with clusters"),
    (b"apiVersion: v1\nkind: Config\n", "not a usable kubeconfig: no clusters, users, contexts"),
    (b"clusters: [\n", "not valid YAML"),
])
def test_a_kubeconfig_that_cannot_serve_is_one_plain_line(tmp_path: Path, content: bytes,
                                                          says: str) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_bytes(content)
    env = {**_env(tmp_path), "EGRESS_E2E_EXISTING_KUBECONFIG": str(kubeconfig)}
    for argv in ([str(BIN / "egress-e2e"), "preflight"],
                 [str(BIN / "pytest"), "scenarios", "-p", "no:cacheprovider"]):
        done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, env=env,
                              timeout=120, check=False)
        assert done.returncode == 1
        lines = _lines(done)
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"egress-e2e: --existing-kubeconfig {kubeconfig}: {says}")


def test_scenarios_that_must_take_turns_refuse_to_run_side_by_side(tmp_path: Path) -> None:
    """The two CONNECT-proxy scenarios read the one fake proxy's log: on two workers without
    --dist loadgroup they would see each other's tunnels. One line, before Docker."""
    done = subprocess.run(
        [str(BIN / "pytest"), "scenarios", "-p", "no:cacheprovider", "-n", "2", "--dist", "load",
         "-k", "connect-tunnel", "--artifacts-dir", str(tmp_path / "artifacts")],
        cwd=REPO, capture_output=True, text=True, env=_env(tmp_path), timeout=120, check=False)
    assert done.returncode == 1
    [line] = _lines(done)
    assert line.startswith("egress-e2e: --dist load with 2 workers would run scenarios side by "
                           "side that must take turns (2 share fake-connect-proxy)"), line
    _nothing_created(tmp_path)


@pytest.mark.parametrize(("workers", "dist", "keyword"), [
    (2, "loadgroup", "connect-tunnel"),    # groups honoured
    (0, "no", "connect-tunnel"),           # one process
    (2, "load", "connect-tunnel-dr"),      # one of the two: nothing to take turns with
])
def test_distribution_that_keeps_groups_together_passes(workers: int, dist: str,
                                                        keyword: str) -> None:
    from egress_e2e.running import selection

    selection.check_run(selection.Run(("scenarios",), keyword=keyword, rootdir=REPO,
                                      workers=workers, dist=dist))
