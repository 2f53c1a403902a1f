"""Phase timings: progress lines a person reads while waiting, and a JSON file for trends."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class PhaseTimer:
    """Times named phases (``cluster``, ``istio``, ``fakes``, ``<scenario>/apply``...)."""

    emit: Callable[[str], None] = print
    phases: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def phase(self, name: str, done: str) -> Iterator[None]:
        """Time the block; on success print ``[name] <done> in N s``."""
        started = time.monotonic()
        yield
        took = time.monotonic() - started
        self.phases[name] = round(took, 3)
        self.emit(f"[{name.split('/', maxsplit=1)[0]}] {done} in {took:.0f} s")

    def record(self, name: str, seconds: float) -> None:
        self.phases[name] = round(seconds, 3)

    def write(self, path: Path, extra: dict[str, object] | None = None) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload: dict[str, object] = {"phases": self.phases, **(extra or {})}
        path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
        return path
