"""What a live session holds: another session on the same cluster refuses in one line, and
`clean` removes only the key directories of runs that are gone. Real locks, held by a real
second process (an flock conflicts between processes, and dies with its holder)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from egress_e2e.commands import clean
from egress_e2e.core import proc
from egress_e2e.core.errors import ClusterError
from egress_e2e.session import leftovers, locks

HOLDER = """
import sys, time
from filelock import FileLock
lock = FileLock(sys.argv[1], timeout=5)
lock.acquire()
print("held", flush=True)
time.sleep(60)
"""


@contextmanager
def held_elsewhere(path: Path) -> Iterator[subprocess.Popen[str]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_a_second_session_on_the_same_cluster_refuses_in_one_line(tmp_path: Path) -> None:
    path = locks.cluster_lock_path(tmp_path, "kind:egress-e2e-1-31")
    with held_elsewhere(path), pytest.raises(ClusterError) as caught, locks.holding(
            path, "kind cluster egress-e2e-1-31"):
        pytest.fail("the lock was taken twice")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("another egress-e2e session is running on kind cluster "
                              "egress-e2e-1-31")


def test_a_killed_session_does_not_block_the_next(tmp_path: Path) -> None:
    path = locks.cluster_lock_path(tmp_path, "server:https://127.0.0.1:6443")
    with held_elsewhere(path) as holder:
        holder.kill()
        holder.wait(timeout=10)
        with locks.holding(path, "the cluster"):
            pass


def test_clusters_are_keyed_by_what_they_are(tmp_path: Path) -> None:
    assert locks.cluster_lock_path(tmp_path, "kind:a") != locks.cluster_lock_path(tmp_path,
                                                                                  "kind:b")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: b\nclusters:\n"
        "- name: x\n  cluster: {server: 'https://10.0.0.1:6443'}\n"
        "- name: y\n  cluster: {server: 'https://kind.local:443'}\n"
        "contexts:\n- name: a\n  context: {cluster: x, user: u}\n"
        "- name: b\n  context: {cluster: y, user: u}\nusers:\n- name: u\n  user: {}\n")
    assert locks.server_of(kubeconfig) == "https://kind.local:443"
    (tmp_path / "odd").write_text("just a string")
    assert locks.server_of(tmp_path / "odd") == str((tmp_path / "odd").resolve())


def test_clean_removes_only_the_keys_of_runs_that_are_gone(tmp_path: Path) -> None:
    live = locks.new_private_dir("aaaaaaaaaaaa", root=tmp_path)
    dead = locks.new_private_dir("bbbbbbbbbbbb", root=tmp_path)
    (dead / "client.key").write_text("k")
    (tmp_path / "egress-e2e-images-x").mkdir()  # not a run's key directory
    with held_elsewhere(live / locks.SESSION_LOCK):
        assert locks.live_run_ids(tmp_path) == {"aaaaaaaaaaaa"}
        assert locks.remove_dead_private_dirs(tmp_path) == [dead]
    assert live.exists() and not dead.exists() and (tmp_path / "egress-e2e-images-x").exists()
    assert live.stat().st_mode & 0o777 == 0o700


def test_clean_on_an_existing_cluster_waits_for_no_live_session(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EGRESS_E2E_STATE_DIR", str(tmp_path / "state"))
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n"
                          "- name: c\n  cluster: {server: 'https://127.0.0.1:9'}\ncontexts:\n"
                          "- name: c\n  context: {cluster: c, user: u}\nusers:\n- name: u\n"
                          "  user: {}\n")
    path = locks.cluster_lock_path(tmp_path / "state", "server:https://127.0.0.1:9")
    started = time.monotonic()
    with held_elsewhere(path), pytest.raises(ClusterError, match="another egress-e2e session"):
        clean.clean_existing(kubeconfig)
    assert time.monotonic() - started < 10


def test_dead_runs_namespaces_are_found_by_the_harness_labels(tmp_path: Path) -> None:
    sent: list[list[str]] = []

    def run(argv: list[str], **_: Any) -> proc.Completed:
        sent.append(argv)
        return proc.Completed(tuple(argv), 0, "", "")

    leftovers.sweep_dead_runs(tmp_path / "k", run=run)
    assert [argv[argv.index("-l") + 1] for argv in sent] == [
        "egress-e2e/run-id", "app.kubernetes.io/part-of=egress-e2e-fake-internet",
        "egress-e2e/role"]
    assert all(argv[-2:] == ["--ignore-not-found", "--wait=false"] for argv in sent)


def test_another_accounts_key_directories_are_left_alone(tmp_path: Path) -> None:
    import os

    if os.getuid() != 0:
        pytest.skip("needs root to make a directory owned by another account")
    theirs = locks.new_private_dir("cccccccccccc", root=tmp_path)
    os.chown(theirs, 65534, 65534)
    assert locks.dead_private_dirs(tmp_path) == []
    assert theirs.exists()
