"""A clock for the pollers' tests: time moves only when the poller pauses."""

from __future__ import annotations


class FakeClock:
    """Time that moves only when the poller pauses, so the bound is exact and instant."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds
