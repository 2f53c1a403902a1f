"""Phase timings: a long phase says what it waits for while it waits, and stops saying so."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from egress_e2e.core import proc
from egress_e2e.core.errors import CommandFailed
from egress_e2e.core.timings import PhaseTimer


def test_a_long_phase_says_what_it_waits_for_until_it_ends() -> None:
    lines: list[str] = []
    timer = PhaseTimer(emit=lines.append, heartbeat=0.05)
    with timer.phase("cluster", "egress-e2e-1-31 ready"):
        time.sleep(0.3)  # the slow work being timed
    ended = len(lines)
    time.sleep(0.15)
    assert len(lines) == ended  # no line after the phase ended
    waiting = lines[:-1]
    assert len(waiting) >= 3
    assert all(line.startswith("[cluster] still waiting for: egress-e2e-1-31 ready (")
               for line in waiting)
    assert lines[-1] == "[cluster] egress-e2e-1-31 ready in 0 s"
    assert "cluster" in timer.phases


def test_a_failing_phase_stops_its_heartbeat_and_records_nothing() -> None:
    lines: list[str] = []
    timer = PhaseTimer(emit=lines.append, heartbeat=0.02)
    with pytest.raises(RuntimeError), timer.phase("istio", "1.31.1 ready"):
        time.sleep(0.1)
        raise RuntimeError("install broke")
    count = len(lines)
    time.sleep(0.08)
    assert len(lines) == count and "istio" not in timer.phases


def test_tool_output_goes_whole_to_its_log(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "kind.log"
    run = proc.logging_to(log)
    run(["sh", "-c", "echo creating; echo step 2 of 9 >&2"])
    with pytest.raises(CommandFailed):
        run(["sh", "-c", "echo half; exit 3"])
    text = log.read_text()
    assert "$ sh -c 'echo creating; echo step 2 of 9 >&2'" in text
    assert "creating\nstep 2 of 9\n--- exit 0" in text
    assert "half\n--- exit 3" in text
