"""The one way the harness runs a tool: argv lists, bounded time, errors that explain themselves."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from egress_e2e.core.errors import CommandFailed, ConfigError


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


# What code that runs tools takes, so offline tests can hand it a recorder: ``proc.run``'s shape.
Runner = Callable[..., Completed]


def run(
    argv: Sequence[str],
    *,
    timeout: float = 120.0,
    check: bool = True,
    input_text: str | None = None,
    env: Mapping[str, str] | None = None,
    note: str = "",
) -> Completed:
    """Run ``argv`` (never through a shell) and return its output.

    A missing executable becomes a ConfigError naming it; a non-zero exit (with ``check``) or a
    timeout becomes CommandFailed carrying the command, the exit code and the output tail.
    """
    args = [str(part) for part in argv]
    try:
        proc = subprocess.run(
            args,
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ConfigError(f"executable not found: {args[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise CommandFailed(args, None, _text(exc.stdout), _text(exc.stderr),
                            note or f"limit {timeout:g} s") from exc
    done = Completed(tuple(args), proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        raise CommandFailed(args, proc.returncode, proc.stdout, proc.stderr, note)
    return done


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value
