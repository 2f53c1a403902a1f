"""Where things live: the repository's own files, and the per-user cache and state directories.

Each per-user directory is an override variable of ours first, then the XDG base directory, then
its XDG default under the home directory, as every XDG-aware tool resolves them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

# egress_e2e/core/paths.py -> the repository (or source tree) root.
REPO_ROOT: Final = Path(__file__).resolve().parents[2]
MANIFESTS_DIR: Final = REPO_ROOT / "manifests"

APP_DIR_NAME: Final = "egress-e2e"
CACHE_ENV: Final = "EGRESS_E2E_CACHE"
STATE_DIR_ENV: Final = "EGRESS_E2E_STATE_DIR"


def user_dir(override_env: str, xdg_env: str, xdg_default: tuple[str, ...],
             environ: Mapping[str, str] | None = None) -> Path:
    """``$override_env`` as given, else ``$xdg_env/egress-e2e``, else
    ``~/<xdg_default...>/egress-e2e``."""
    env = os.environ if environ is None else environ
    if env.get(override_env):
        return Path(env[override_env]).expanduser()
    base = Path(env[xdg_env]) if env.get(xdg_env) else Path.home().joinpath(*xdg_default)
    return base / APP_DIR_NAME


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Downloaded tools and the checksum lock: ``$EGRESS_E2E_CACHE`` or the XDG cache."""
    return user_dir(CACHE_ENV, "XDG_CACHE_HOME", (".cache",), environ)


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The record of clusters this harness created: ``$EGRESS_E2E_STATE_DIR`` or XDG state."""
    return user_dir(STATE_DIR_ENV, "XDG_STATE_HOME", (".local", "state"), environ)
