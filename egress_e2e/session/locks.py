"""What a live session holds, so that others can tell it is alive.

- Its cluster: two sessions on one cluster would remove each other's fakes and DNS edit, so the
  second one refuses in one line. The lock lives in the state directory, keyed by the kind
  cluster's name or the API server an existing kubeconfig points at (one machine's sessions;
  a cluster shared between machines is the user's to arrange).
- Its private directory (the per-run keys, mode 0700): ``egress-e2e clean`` removes only the
  directories whose lock nobody holds, the leftovers of a run that was killed.

The OS drops an flock when its process dies, however it dies, so a killed run never blocks
the next one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import yaml
from filelock import FileLock, Timeout

from egress_e2e.core.errors import ClusterError

PRIVATE_PREFIX: Final = "egress-e2e-"
SESSION_LOCK: Final = ".session.lock"
_PRIVATE_DIR: Final = re.compile(r"^egress-e2e-[0-9a-f]{12}-")


@contextlib.contextmanager
def holding(path: Path, what: str) -> Iterator[None]:
    """Hold ``path``'s lock for the block, or raise ClusterError at once naming ``what``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ClusterError(f"another egress-e2e session is running on {what} (it holds {path});"
                           " wait for it to end, or use --cluster-name for a cluster of your "
                           "own") from None
    try:
        yield
    finally:
        lock.release()


def cluster_lock_path(state_dir: Path, key: str) -> Path:
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return state_dir / "locks" / f"cluster-{digest}.lock"


def server_of(kubeconfig: Path) -> str:
    """The API server the kubeconfig's current context points at; the path itself when the
    file says no more (the kubeconfig was checked for shape before, this only names it)."""
    try:
        data = yaml.safe_load(kubeconfig.read_text())
        context = next(c["context"] for c in data["contexts"]
                       if c["name"] == data["current-context"])
        return str(next(c["cluster"]["server"] for c in data["clusters"]
                        if c["name"] == context["cluster"]))
    except (OSError, yaml.YAMLError, KeyError, TypeError, StopIteration):
        return str(kubeconfig.resolve())


def new_private_dir(run_id: str, root: Path | None = None) -> Path:
    """The run's private directory (0700, as mkdtemp makes it)."""
    return Path(tempfile.mkdtemp(prefix=f"{PRIVATE_PREFIX}{run_id}-", dir=root))


def dead_private_dirs(root: Path | None = None) -> list[Path]:
    """Private directories of runs that are no longer alive: their lock is free."""
    return _private_dirs(root, alive=False)


def live_run_ids(root: Path | None = None) -> set[str]:
    """The run ids of this machine's sessions that are running now."""
    return {path.name[len(PRIVATE_PREFIX):][:12] for path in _private_dirs(root, alive=True)}


def _private_dirs(root: Path | None, *, alive: bool) -> list[Path]:
    base = Path(root or tempfile.gettempdir())
    found: list[Path] = []
    for candidate in sorted(base.glob(f"{PRIVATE_PREFIX}*")):
        try:
            # Another account's runs (or an earlier `sudo make e2e`) are not ours to judge.
            if not (candidate.is_dir() and _PRIVATE_DIR.match(candidate.name)
                    and candidate.stat().st_uid == os.getuid()):
                continue
            with FileLock(str(candidate / SESSION_LOCK), timeout=0):
                if not alive:
                    found.append(candidate)
        except Timeout:
            if alive:
                found.append(candidate)  # a live session holds it
        except OSError:
            continue  # gone meanwhile, or unreadable: leave it
    return found


def remove_dead_private_dirs(root: Path | None = None) -> list[Path]:
    removed = dead_private_dirs(root)
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed
