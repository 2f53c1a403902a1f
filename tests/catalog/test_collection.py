"""`pytest scenarios --collect-only -k ...` works here: no cluster, no Docker, pytest's -k rule."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from egress_e2e import catalog
from egress_e2e.catalog.via_gateway import GATEWAY_HTTP
from egress_e2e.running.marks import scenario_marks

ROOT = Path(__file__).resolve().parents[2]


def collect(*args: str) -> list[str]:
    """Run pytest's collection on scenarios/ in a fresh process; return the selected ids."""
    env = dict(os.environ, DOCKER_HOST="unix:///nonexistent/docker.sock")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "scenarios", "--collect-only", "-q",
         "-p", "no:cacheprovider", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=env, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    prefix = "scenarios/test_catalog.py::test_scenario["
    return [line[len(prefix):-1] for line in done.stdout.splitlines() if line.startswith(prefix)]


def test_whole_catalog_collects_without_a_cluster() -> None:
    assert collect() == [s.id for s in catalog.ALL]


def test_k_selects_by_substring_of_the_id() -> None:
    selected = collect("-k", "passthrough")
    assert selected == [s.id for s in catalog.ALL if "passthrough" in s.id]
    assert "passthrough" in selected and "passthrough-double-tls" in selected


def test_k_expressions_narrow() -> None:
    selected = collect("-k", "passthrough and not tls")
    assert selected == [s.id for s in catalog.ALL
                        if "passthrough" in s.id and "tls" not in s.id]
    assert "passthrough-double-tls" not in selected


def test_shared_gateway_scenarios_join_one_xdist_group() -> None:
    shared = scenario_marks(replace(GATEWAY_HTTP, gateway="shared"))
    own = scenario_marks(GATEWAY_HTTP)
    assert [(m.name, m.args) for m in shared] == [
        ("scenario", ("gateway-http",)), ("xdist_group", ("istio-system-gateway",))]
    assert [(m.name, m.args) for m in own] == [("scenario", ("gateway-http",))]


def test_scenarios_reading_the_connect_proxy_log_run_one_at_a_time() -> None:
    grouped = {s.id for s in catalog.ALL
               if ("xdist_group", ("fake-connect-proxy",)) in
               [(m.name, m.args) for m in scenario_marks(s)]}
    assert grouped == {"connect-tunnel", "connect-tunnel-dr"}


def test_an_upgrade_run_collects_each_scenario_per_phase_in_phase_order() -> None:
    # Every before first, then every skew, then every after: the moves between phases happen
    # once, when the first test of the next phase starts.
    selected = collect("--upgrade-from", "1.30.5", "-k", "passthrough and not tls")
    ids = [s.id for s in catalog.ALL if "passthrough" in s.id and "tls" not in s.id]
    assert ids and selected == [f"{i}-{phase}" for phase in ("before", "skew", "after")
                                for i in ids]
    # Without an upgrade, no phase in the ids.
    assert collect("-k", "passthrough and not tls") == ids
