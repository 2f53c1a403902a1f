"""Does what `make e2e` installs resolve, from wheels only, on every platform and Python we claim?

For each of linux-amd64, linux-arm64 and darwin-arm64 and Python 3.11, 3.12 and 3.13, ask pip to
resolve the package's runtime dependencies under requirements.lock's constraints, as that target
would, with `--only-binary=:all:` (a missing wheel would mean a compiler on the user's machine).
`--dry-run` reads the wheels' metadata without installing anything. It needs the package index,
so it is a `make lock-check` / CI step, not part of `make test`.

Prints one line per target and exits 1 if any target does not resolve.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHONS = ("3.11", "3.12", "3.13")
# The newest systems we expect: glibc 2.35 (Ubuntu 22.04; Debian 12 has 2.36) and macOS 14 on
# Apple silicon. pip expands a macOS tag to the older releases itself, but not a manylinux one,
# so every glibc from manylinux2014's 2.17 up is listed.
GLIBC_MINORS = range(17, 36)


def platform_tags(platform: str) -> list[str]:
    if platform == "darwin-arm64":
        return ["macosx_14_0_arm64"]
    arch = {"linux-amd64": "x86_64", "linux-arm64": "aarch64"}[platform]
    return [f"manylinux_2_{minor}_{arch}" for minor in GLIBC_MINORS] + [f"manylinux2014_{arch}"]


PLATFORMS = ("linux-amd64", "linux-arm64", "darwin-arm64")


def runtime_requirements() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [str(req) for req in project["dependencies"]]


def resolve(platform: str, python: str, requirements: list[str]) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory(prefix="lock-check-") as tmp:
        report = Path(tmp) / "report.json"
        argv = [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run",
                "--ignore-installed", "--only-binary=:all:",
                *(arg for tag in platform_tags(platform) for arg in ("--platform", tag)),
                "--python-version", python, "--target", str(Path(tmp) / "target"),
                "--constraint", str(REPO / "requirements.lock"), "--report", str(report),
                *requirements]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines()
                     if line.strip() and not line.startswith("WARNING: Location")]
            return False, " | ".join(lines[-4:]) or f"pip exited {done.returncode}"
        installs = json.loads(report.read_text())["install"]
        compiled = sorted(
            item["metadata"]["name"] for item in installs
            if not item["download_info"]["url"].endswith("-none-any.whl")
        )
        return True, f"{len(installs)} wheels, compiled: {', '.join(compiled) or 'none'}"


def main() -> int:
    requirements = runtime_requirements()
    targets = [(platform, python) for platform in PLATFORMS for python in PYTHONS]
    # A few at a time: pip mostly waits on the index.
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda t: resolve(t[0], t[1], requirements), targets))
    failed = 0
    for (platform, python), (ok, detail) in zip(targets, results, strict=True):
        print(f"lock-check: {platform} cp{python.replace('.', '')}: "
              f"{'ok' if ok else 'FAILED'}: {detail}")
        failed += not ok
    if failed:
        print(f"lock-check: {failed} of {len(targets)} targets do not resolve from wheels",
              file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
