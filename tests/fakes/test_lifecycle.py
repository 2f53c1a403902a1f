"""Nothing the local fakes start outlives them: not on a normal exit, not when the block
raises, not when one of them fails to start, not when the process that started them is
SIGKILL'd. Files stay inside the given workdir."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from egress_e2e.core.errors import EgressE2EError
from egress_e2e.core.localproc import port_open
from egress_e2e.fakes import local


def _processes_in(workdir: Path) -> list[str]:
    """Live processes whose working directory is ``workdir`` (how the fakes are started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # A zombie (state Z) is already dead; only its parent has not reaped it yet.
        state = stat.rsplit(")", 1)[1].split()[0]
        if cwd == str(workdir) and state != "Z":
            found.append(f"{entry.name}: {(entry / 'cmdline').read_bytes()!r}")
    return found


def _ports(fakes: local.LocalFakes) -> list[int]:
    p = fakes.ports
    return [p.http, p.tls, p.mtls, p.untrusted, p.connect, fakes.httpbin_port]


def test_processes_stop_when_the_block_ends(tmp_path) -> None:
    with local.start(tmp_path) as fakes:
        assert len(_processes_in(tmp_path)) >= 3  # httpbin, nginx (+ worker), envoy
        assert all(port_open("127.0.0.1", port) for port in _ports(fakes))

    assert _processes_in(tmp_path) == []
    assert [proc.popen.poll() is not None for proc in fakes.processes] == [True] * 3
    assert not any(port_open("127.0.0.1", port) for port in _ports(fakes))


def test_processes_stop_when_the_block_raises(tmp_path) -> None:
    with pytest.raises(RuntimeError, match="scenario failed"), local.start(tmp_path):
        raise RuntimeError("scenario failed")

    assert _processes_in(tmp_path) == []


def test_a_fake_that_cannot_start_is_named_and_the_others_stopped(tmp_path,
                                                                 monkeypatch) -> None:
    real = local._binaries()
    broken = local._Binaries(nginx=real.nginx, envoy=Path("/bin/false"), waitress=real.waitress)
    monkeypatch.setattr(local, "_binaries", lambda: broken)

    with pytest.raises(EgressE2EError, match=r"^envoy exited with 1 before listening"), \
            local.start(tmp_path):
        pytest.fail("start() must not yield when a fake cannot start")

    assert _processes_in(tmp_path) == []


@pytest.mark.parametrize("run_id", ['x"; evil', "UPPER", "-x"])
def test_a_run_id_that_could_break_the_configs_is_refused(tmp_path, run_id) -> None:
    from egress_e2e.core.errors import ConfigError

    with pytest.raises(ConfigError, match="fake internet run id must match"), \
            local.start(tmp_path, run_id=run_id):
        pytest.fail("must not start")
    assert list(tmp_path.iterdir()) == []


def test_local_files_stay_inside_the_workdir(tmp_path) -> None:
    with local.start(tmp_path) as fakes:
        nginx_conf = (tmp_path / "nginx" / "nginx.conf").read_text()
        proxy_conf = (tmp_path / "envoy" / "envoy-connect-proxy.yaml").read_text()
    nginx_paths = re.findall(
        r"^\s*(?:pid|error_log|access_log|\w+_temp_path|ssl_certificate|ssl_certificate_key|"
        r"ssl_client_certificate) (\S+?)[ ;]", nginx_conf, re.MULTILINE)
    proxy_paths = re.findall(r"(?:filename|path): (\S+?)[}\s]", proxy_conf)
    assert len(nginx_paths) > 10 and len(proxy_paths) == 3  # the regexes found the paths
    outside = {p for p in (*nginx_paths, *proxy_paths) if not p.startswith(f"{tmp_path}/")}
    assert outside == set()
    assert fakes.workdir == tmp_path


# Starts the fakes, says so, and waits to be killed: what a pytest-xdist worker does when the
# controller or the OOM killer SIGKILLs it mid-run.
_STARTER = """
import sys, time
from pathlib import Path
from egress_e2e.fakes import local
with local.start(Path(sys.argv[1])):
    print("started", flush=True)
    time.sleep(300)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal: Linux")
def test_processes_die_with_a_sigkilled_parent(tmp_path) -> None:
    workdir = tmp_path / "fakes"
    starter = subprocess.Popen([sys.executable, "-c", _STARTER, str(workdir)],
                               stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert starter.stdout is not None
        assert starter.stdout.readline() == "started\n"
        before = _processes_in(workdir)
        names = " ".join(before)
        assert all(name in names for name in ("nginx", "envoy", "waitress")), before
    finally:
        starter.send_signal(signal.SIGKILL)  # no finally, no atexit: only the kernel acts
        starter.wait(timeout=10)
    deadline = time.monotonic() + 10
    while _processes_in(workdir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_in(workdir) == []
