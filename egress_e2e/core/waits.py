"""Waiting for eventually consistent Istio config, without fixed sleeps.

``eventually`` re-observes until a judgement holds N times in a row (3 by default, as Istio's own
tests require: one lucky answer while config is still propagating proves nothing). ``stays_absent``
watches a settle window in which something must not appear. Both give up with a ``WaitTimeout``
whose message carries the last observation, so the failure explains itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
)

from egress_e2e.core.errors import EgressE2EError, WaitTimeout

T = TypeVar("T")

DEFAULT_CONSECUTIVE = 3


class _NotYet(Exception):
    """One attempt did not (yet) hold; tenacity retries on it."""


@dataclass
class _Progress(Generic[T]):
    attempts: int = 0
    streak: int = 0
    best_streak: int = 0
    last: T | None = None
    last_problems: list[str] = field(default_factory=list)
    last_error: str | None = None


def eventually(
    observe: Callable[[], T],
    judge: Callable[[T], Sequence[str]],
    *,
    what: str,
    timeout: float,
    consecutive: int = DEFAULT_CONSECUTIVE,
    interval: float = 1.0,
    describe: Callable[[T], str] = repr,
) -> T:
    """Observe until ``judge`` finds no problem ``consecutive`` times in a row; return the last
    observation. An ``EgressE2EError`` from ``observe`` (a kubectl call failing while pods roll)
    counts as a failed attempt. Raises WaitTimeout naming ``what``, the last problems and the last
    observation."""
    if consecutive < 1:
        raise ValueError(f"consecutive must be >= 1, got {consecutive}")
    progress: _Progress[T] = _Progress()

    def attempt() -> T:
        progress.attempts += 1
        try:
            observed = observe()
        except EgressE2EError as exc:
            progress.streak = 0
            progress.last_error = str(exc)
            raise _NotYet from exc
        progress.last, progress.last_error = observed, None
        progress.last_problems = list(judge(observed))
        if progress.last_problems:
            progress.streak = 0
            raise _NotYet
        progress.streak += 1
        progress.best_streak = max(progress.best_streak, progress.streak)
        if progress.streak < consecutive:
            raise _NotYet
        return observed

    retrying = Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(interval),
                        retry=retry_if_exception_type(_NotYet))
    try:
        return retrying(attempt)
    except RetryError:
        raise WaitTimeout(_gave_up(what, timeout, consecutive, progress, describe)) from None


def _gave_up(what: str, timeout: float, consecutive: int, progress: _Progress[T],
             describe: Callable[[T], str]) -> str:
    text = (f"{what}: did not hold {consecutive} times in a row within {timeout:g} s "
            f"({progress.attempts} attempts, longest run {progress.best_streak})")
    if progress.last_error is not None:
        text += f"; last attempt failed: {progress.last_error}"
    elif progress.streak:
        text += f"; held {progress.streak} times in a row when time ran out"
    elif progress.last_problems:
        text += f"; last mismatch: {'; '.join(progress.last_problems)}"
    if progress.last is not None:
        text += f"; last observation: {describe(progress.last)}"
    return text


def latest(
    observe: Callable[[], T],
    judge: Callable[[T], Sequence[str]],
    *,
    timeout: float,
    interval: float = 0.5,
) -> T:
    """Re-observe until ``judge`` is satisfied or ``timeout`` passes; return the last observation
    either way. For evidence that trails a probe (a proxy flushes its access log later): gather
    again for the same probe, and let the caller's ``eventually`` judge the result."""
    retrying = Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(interval),
                        retry=retry_if_result(lambda observed: bool(judge(observed))),
                        retry_error_callback=lambda state: state.outcome.result()
                        if state.outcome is not None else None)
    return retrying(observe)


def stays_absent(
    observe: Callable[[], T],
    found: Callable[[T], Sequence[str]],
    *,
    what: str,
    settle: float,
    interval: float = 1.0,
    describe: Callable[[T], str] = repr,
) -> T:
    """Observe for the whole ``settle`` window; ``found`` lists what must not be there. Returns the
    last observation when nothing appeared, raises WaitTimeout as soon as something does."""
    started = time.monotonic()
    attempts = 0

    def attempt() -> T:
        nonlocal attempts
        attempts += 1
        observed = observe()
        present = list(found(observed))
        if present:
            after = time.monotonic() - started
            raise WaitTimeout(
                f"{what}: expected none during the {settle:g} s settle window, but after "
                f"{after:.1f} s found: {'; '.join(present)}; observation: {describe(observed)}"
            )
        return observed

    retrying = Retrying(stop=stop_after_delay(settle), wait=wait_fixed(interval),
                        retry=retry_if_result(lambda _: True), reraise=True)
    try:
        retrying(attempt)
    except RetryError as exc:
        # The window ran out with every look clear: that is success.
        last = exc.last_attempt.result()
        return last  # type: ignore[no-any-return]
    raise AssertionError("unreachable: stays_absent retries every clear result")  # pragma: no cover


def until(
    observe: Callable[[], T],
    done: Callable[[T], bool],
    *,
    what: str,
    timeout: float,
    interval: float = 1.0,
    describe: Callable[[T], str] = repr,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], None] = time.sleep,
) -> T:
    """Observe until ``done`` holds once; return that observation. For states that do not flap
    once reached (a port listening, a Deployment rolled out, a log line written). An error from
    ``observe`` is a final answer and propagates (a process that died will not come back). On
    giving up: ``WaitTimeout("<what> within <timeout> s; <describe(last)>")``."""
    deadline = clock() + timeout
    while True:
        observed = observe()
        if done(observed):
            return observed
        remaining = deadline - clock()
        if remaining <= 0:
            raise WaitTimeout(f"{what} within {timeout:g} s; {describe(observed)}")
        pause(min(interval, remaining))
