"""The CI workflows, checked offline: GitHub's schema, zizmor's audit, and what a person relies on
when reading them (pinned actions, nothing unpinned installed, artifacts kept on any outcome)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from egress_e2e.core import paths, proc
from egress_e2e.core.errors import CommandFailed

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
NIGHTLY = WORKFLOWS / "e2e-nightly.yml"
TEST = WORKFLOWS / "test.yml"
BIN = Path(sys.executable).parent
# Every action the workflows use, with the release tag its commit was read from (the tag's commit
# in the action's public repository). A new action or a bump must be looked up, not typed.
VERIFIED_ACTIONS = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "actions/cache": ("27d5ce7f107fe9357f9df03efb73ab90386fccae", "v5.0.5"),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0"),
    "actions/download-artifact": ("3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c", "v8.0.1"),
}
USES = re.compile(r"^\s*(?:-\s*)?uses:\s*(\S+?)@(\S+)\s*(?:#\s*(\S+))?\s*$")


def load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def triggers(data: dict[Any, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the bare key `on` as True.
    found = data.get("on", data.get(True))
    assert isinstance(found, dict)
    return found


def run_steps(data: dict[Any, Any]) -> list[str]:
    return [step["run"] for job in data["jobs"].values() for step in job["steps"] if "run" in step]


@pytest.mark.parametrize("path", [NIGHTLY, TEST], ids=lambda p: p.name)
def test_schema_valid(path: Path) -> None:
    proc.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
              str(path)], timeout=60)


def test_zizmor_finds_nothing_even_pedantic() -> None:
    done = proc.run([str(BIN / "zizmor"), "--offline", "--no-progress", "--persona", "pedantic",
                     "--format", "plain", str(WORKFLOWS)], timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout


BAD_WORKFLOW = """
name: bad
on: issues
jobs:
  echo:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.issue.title }}"
"""


def test_the_checks_do_catch_a_bad_workflow(tmp_path: Path) -> None:
    """The audit and the schema are not no-ops: a bad workflow fails both."""
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(BAD_WORKFLOW)
    done = proc.run([str(BIN / "zizmor"), "--offline", "--no-progress", str(bad)],
                    timeout=60, check=False)
    assert done.returncode != 0
    assert "unpinned-uses" in done.stdout and "template-injection" in done.stdout
    bad.write_text(BAD_WORKFLOW.replace("    runs-on: ubuntu-latest\n", ""))
    with pytest.raises(CommandFailed, match="check-jsonschema"):
        proc.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                  str(bad)], timeout=60)


@pytest.mark.parametrize("path", [NIGHTLY, TEST], ids=lambda p: p.name)
def test_actions_pinned_to_verified_commits(path: Path) -> None:
    used = [m.groups() for line in path.read_text().splitlines() if (m := USES.match(line))]
    assert used, f"{path.name} uses no actions?"
    for action, ref, comment in used:
        assert action in VERIFIED_ACTIONS, f"{action} has no verified commit in this test"
        sha, tag = VERIFIED_ACTIONS[action]
        assert (ref, comment) == (sha, tag), f"{action}@{ref} # {comment}: expected {sha} # {tag}"


@pytest.mark.parametrize("path", [NIGHTLY, TEST], ids=lambda p: p.name)
def test_nothing_unpinned_is_installed(path: Path) -> None:
    data = load(path)
    for script in run_steps(data):
        for banned in ("curl ", "wget ", "| sh", "| bash", "go install", "npm ", "npx ",
                       "pip install", "@latest"):
            assert banned not in script, f"{path.name}: {banned!r} in a run step: {script}"
    for job in data["jobs"].values():
        assert job["runs-on"] != "ubuntu-latest"
        image = job.get("container", {}).get("image", "")
        images = [image]
        if image == "${{ matrix.image }}":
            images = [entry["image"] for entry in job["strategy"]["matrix"]["include"]]
        for each in images:
            assert not each or re.search(r"@sha256:[0-9a-f]{64}$", each), each


def test_every_job_reads_only_and_has_a_timeout() -> None:
    for path in (NIGHTLY, TEST):
        data = load(path)
        assert data["permissions"] == {}
        for name, job in data["jobs"].items():
            assert job["permissions"] == {"contents": "read"}, f"{path.name}:{name}"
            assert 0 < job["timeout-minutes"] <= 120, f"{path.name}:{name}"
            for step in job["steps"]:
                if str(step.get("uses", "")).startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False


def test_nightly_shape() -> None:
    data = load(NIGHTLY)
    on = triggers(data)
    assert on["schedule"][0]["cron"]
    assert on["workflow_dispatch"]["inputs"]["istio"]["default"] == "all"

    build = data["jobs"]["matrix"]
    script = next(s["run"] for s in build["steps"] if s.get("id") == "build")
    assert "egress-e2e matrix --istio" in script and "GITHUB_OUTPUT" in script
    assert "egress-e2e matrix --upgrades" in script
    latest = next(s for s in build["steps"] if "--check-latest" in s.get("run", ""))
    assert latest["continue-on-error"] is True

    e2e = data["jobs"]["e2e"]
    assert e2e["needs"] == "matrix"
    assert e2e["strategy"]["fail-fast"] is False
    assert e2e["strategy"]["matrix"] == "${{ fromJSON(needs.matrix.outputs.matrix) }}"
    steps = {step["name"]: step for step in e2e["steps"]}
    inotify = next(s for n, s in steps.items() if n.startswith("Raise inotify"))
    assert "fs.inotify.max_user_instances" in inotify["run"]
    cache = next(s for s in steps.values() if str(s.get("uses", "")).startswith("actions/cache@"))
    assert "versions.toml" in cache["with"]["key"]
    run = steps["Run the scenarios (make e2e)"]["run"]
    fresh, upgraded = run.split("else", 1)[1], run.split("else", 1)[0]
    assert 'make e2e ISTIO_VERSION="$ISTIO_VERSION" DATA_PLANE="$DATA_PLANE" WORKERS=2' in fresh
    assert "--splits $SHARDS --group $SHARD" in fresh
    # An upgrade entry runs serially, from its source release, by its method.
    assert 'UPGRADE_FROM="$UPGRADE_FROM"' in upgraded and "WORKERS=0" in upgraded
    assert 'UPGRADE_METHOD="$UPGRADE_METHOD"' in upgraded
    assert run.count("--cluster-name $CLUSTER") == 2
    export = steps["Export kind logs"]
    assert export["if"] == "always()" and "export logs" in export["run"]
    assert "kind-${KIND_VERSION}-linux-amd64" in export["run"]
    upload = steps["Upload the artifacts directory"]
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == "artifacts/"
    assert "${{ matrix.name }}" in upload["with"]["name"]
    assert "${{ github.run_attempt }}" in upload["with"]["name"]
    # Matrix values reach scripts through env only (no template injection into shell).
    for script in run_steps(data):
        assert "${{" not in script


def test_nightly_merges_every_entry_into_one_report() -> None:
    report = load(NIGHTLY)["jobs"]["report"]
    assert report["needs"] == "e2e" and report["if"] == "${{ !cancelled() }}"
    download = next(s for s in report["steps"]
                    if str(s.get("uses", "")).startswith("actions/download-artifact@"))
    upload_name = next(s for s in load(NIGHTLY)["jobs"]["e2e"]["steps"]
                       if s.get("name") == "Upload the artifacts directory")["with"]["name"]
    assert upload_name.startswith(download["with"]["pattern"].rstrip("*"))
    merge = next(s["run"] for s in report["steps"] if "report merge" in s.get("run", ""))
    assert "--markdown \"$GITHUB_STEP_SUMMARY\"" in merge


def test_nightly_uploads_the_observation_records_apart() -> None:
    """Each e2e job uploads artifacts/observations/ (what the runner writes, and what
    ``egress-e2e observations import`` reads) as its own artifact, whatever the outcome, under a
    name the report job's merge does not pick up."""
    from egress_e2e.evidence.observations import OBSERVATIONS_DIR

    data = load(NIGHTLY)
    steps = {step["name"]: step for step in data["jobs"]["e2e"]["steps"]}
    upload = steps["Upload the observation records"]
    assert str(upload["uses"]).startswith("actions/upload-artifact@")
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == f"artifacts/{OBSERVATIONS_DIR}/"
    assert data["jobs"]["e2e"]["env"]["ARTIFACTS"] == "artifacts"
    name = upload["with"]["name"]
    assert "${{ matrix.name }}" in name and "${{ github.run_attempt }}" in name
    report = data["jobs"]["report"]
    pattern = next(s for s in report["steps"]
                   if str(s.get("uses", "")).startswith("actions/download-artifact@")
                   )["with"]["pattern"]
    assert not name.startswith(pattern.rstrip("*"))


def test_workflow_finds_kind_where_the_harness_caches_it() -> None:
    from egress_e2e.infra import tools, versions

    loaded = versions.load(versions.DEFAULT_PATH)
    asset = tools.kind_asset(loaded.kind, versions.Platform("linux", "amd64"))
    cache = tools.Cache.from_env({})
    assert cache.bin_dir == Path.home() / ".cache" / "egress-e2e" / "bin"
    assert asset.binary_name == f"kind-{loaded.kind.version}-linux-amd64"
    text = NIGHTLY.read_text()
    assert 'kind_bin="$cache_dir/bin/kind-${KIND_VERSION}-linux-amd64"' in text
    assert "${EGRESS_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/egress-e2e}" in text
    assert paths.CACHE_ENV == "EGRESS_E2E_CACHE"
    cached = next(s for s in load(NIGHTLY)["jobs"]["e2e"]["steps"]
                  if str(s.get("uses", "")).startswith("actions/cache@"))
    assert "~/.cache/egress-e2e" in cached["with"]["path"].split()


def test_matrix_keys_the_workflow_reads_exist() -> None:
    """Every `matrix.<key>` the nightly reads is a key `egress-e2e matrix` prints."""
    from dataclasses import fields

    from egress_e2e.infra.matrix import MatrixEntry, UpgradeEntry

    read = set(re.findall(r"matrix\.(\w+)", NIGHTLY.read_text())) - {"outputs"}
    printed = {f.name for f in fields(MatrixEntry)} | {f.name for f in fields(UpgradeEntry)}
    assert read <= printed, read


def test_push_and_pull_request_run_make_test() -> None:
    data = load(TEST)
    assert set(triggers(data)) >= {"push", "pull_request"}
    assert any(s.strip().endswith(".ci/run") for s in run_steps(data))
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_offline_suite_runs_on_the_oldest_and_newest_python() -> None:
    """Debian 12's python3 is 3.11, Debian 13's is 3.13: the matrix names both ends."""
    job = load(TEST)["jobs"]["test"]
    entries = job["strategy"]["matrix"]["include"]
    by_python = {entry["python"]: entry["image"] for entry in entries}
    assert set(by_python) == {"3.11", "3.13"}
    assert by_python["3.11"].startswith("debian:bookworm@")
    assert by_python["3.13"].startswith("debian:trixie@")
    assert any("make lock-check" in s for s in run_steps(load(TEST)))
