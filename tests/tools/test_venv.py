"""`make` rebuilds a venv that another Python made, instead of reusing it (its compiled wheels
belong to another ABI), and leaves a matching one alone.

Real make, real venvs. Only the package install is stood in for (`PIP=true`): it needs the
package index, and what it installs is checked by test_lock.py and `make lock-check`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Interpreters that may be on the machine (pyenv picks one by PYENV_VERSION; elsewhere the
# variable is ignored).
OTHERS = (("python3.12", "3.12"), ("python3.13", "3.13"), ("python3.11", "3.11"))


def _other_python() -> tuple[list[str], str]:
    """A Python whose minor differs from the one running the tests, and its version."""
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    for name, minor in OTHERS:
        if minor == here:
            continue
        for pyenv in ("3.12.1", "3.13.0", "3.11.7", ""):
            env = {**os.environ, "PYENV_VERSION": pyenv} if pyenv else dict(os.environ)
            try:
                done = subprocess.run([name, "-c", "import sys; print(sys.version.split()[0])"],
                                      capture_output=True, text=True, env=env, timeout=30,
                                      check=False)
            except FileNotFoundError:
                break
            if done.returncode == 0 and done.stdout.startswith(minor + "."):
                return (["env", f"PYENV_VERSION={pyenv}", name] if pyenv else [name],
                        done.stdout.strip())
    pytest.skip("no second Python (3.11-3.13) on this machine")


def _make(venv: Path, python: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "venv-e2e", f"VENV={venv}", f"PYTHON={python}",
         "PIP=true"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False)


def test_a_venv_made_by_another_python_is_rebuilt(tmp_path: Path) -> None:
    other, other_version = _other_python()
    venv = tmp_path / "venv"
    subprocess.run([*other, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    # PYTHON is the interpreter behind this test run (a venv's base is that of its python).
    wanted = getattr(sys, "_base_executable", sys.executable)  # CPython: the venv's base

    done = _make(venv, wanted)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{venv} was built by Python {other_version}" in done.stdout
    assert "rebuilding it" in done.stdout
    rebuilt = subprocess.run([str(venv / "bin" / "python"), "-c",
                              "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True, check=True, timeout=30)
    assert rebuilt.stdout.strip() == sys.version.split()[0]

    again = _make(venv, wanted)  # now it matches: nothing to rebuild, nothing to install
    assert again.returncode == 0
    assert "rebuilding" not in again.stdout and "installing" not in again.stdout
