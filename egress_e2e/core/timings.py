"""Phase timings: progress lines a person reads while waiting, and a JSON file for trends.

A phase that takes long (kind create, image pulls, the Istio install, the DNS check) says what
it is waiting for every ``heartbeat`` seconds, so minutes of silence never look like a hang.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class PhaseTimer:
    """Times named phases (``cluster``, ``istio``, ``fakes``, ``<scenario>/apply``...)."""

    emit: Callable[[str], None] = print
    phases: dict[str, float] = field(default_factory=dict)
    heartbeat: float = 10.0  # seconds between "still waiting" lines; 0: none

    @contextlib.contextmanager
    def phase(self, name: str, done: str) -> Iterator[None]:
        """Time the block; while it runs, say every ``heartbeat`` seconds what it waits for;
        on success print ``[name] <done> in N s``."""
        started = time.monotonic()
        room = name.split("/", maxsplit=1)[0]
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.heartbeat):
                self.emit(f"[{room}] still waiting for: {done} "
                          f"({time.monotonic() - started:.0f} s so far)")

        beating = threading.Thread(target=beat, name=f"heartbeat {name}", daemon=True)
        if self.heartbeat > 0:
            beating.start()
        try:
            yield
        finally:
            stop.set()
            if beating.is_alive():
                beating.join()
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
