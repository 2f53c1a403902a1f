"""Open the HTML report, built from recorded pytester runs, in headless Chromium."""

from __future__ import annotations

import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from egress_e2e.core import proc
from egress_e2e.report import html
from egress_e2e.report.model import ResultSet

pytest_plugins = ["pytester"]

CHROMIUM = next((found for name in ("chromium", "chromium-browser")
                 if (found := shutil.which(name))), None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium binary on PATH (Debian: apt-get install chromium; make test installs it)",
)


def chromium_argv(user_data: Path, *extra: str) -> list[str]:
    assert CHROMIUM is not None
    return [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={user_data}", "--window-size=1400,1000", *extra,
    ]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@needs_chromium
def test_report_renders_table_and_pictures(
    report_project: Callable[..., object], tmp_path: Path
) -> None:
    runs = [report_project("1.30.5"), report_project("1.31.1")]
    merged = ResultSet.merge(ResultSet.read(r.artifacts / "results.json") for r in runs)
    page = tmp_path / "report.html"
    page.write_text(html.render(merged, generated="test run"), encoding="utf-8")
    url = page.as_uri()

    shot = tmp_path / "report.png"
    proc.run(chromium_argv(tmp_path / "profile-shot", f"--screenshot={shot}", url),
             timeout=90, note="headless screenshot of the report")
    assert shot.is_file(), "chromium wrote no screenshot"
    assert png_size(shot) == (1400, 1000)
    # A blank page compresses to a few kB; text, tables and pictures do not.
    assert shot.stat().st_size > 30_000, f"screenshot only {shot.stat().st_size} bytes"

    dom = proc.run(chromium_argv(tmp_path / "profile-dom", "--dump-dom", url),
                   timeout=90, note="headless DOM dump of the report").stdout
    assert '<table class="matrix">' in dom
    assert dom.count("<svg") == len(merged.scenario_ids)
    assert "Istio 1.30.5" in dom and "Istio 1.31.1" in dom
    assert "CONNECT tunnel" in dom
    # The single per-run reports render too (what a nightly job uploads).
    single = runs[1].artifacts / "report.html"
    dom_single = proc.run(chromium_argv(tmp_path / "profile-one", "--dump-dom", single.as_uri()),
                          timeout=90).stdout
    assert dom_single.count("<svg") == len(merged.scenario_ids)
