"""The one way the harness runs a tool: argv lists, bounded time, errors that explain themselves."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from egress_e2e.core.errors import CommandFailed, ConfigError, format_command


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


def logging_to(log: Path, run: Runner = run) -> Runner:
    """``run``, with every command's full output appended to ``log`` (artifacts/logs/<tool>.log):
    errors carry only a tail, and a person debugging a failed install wants all of it."""

    def logged(argv: Sequence[str], **kwargs: Any) -> Completed:
        log.parent.mkdir(parents=True, exist_ok=True)
        started = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            done = run(argv, **kwargs)
        except CommandFailed as exc:
            status = "timed out" if exc.returncode is None else f"exit {exc.returncode}"
            _append(log, f"{started} $ {format_command(exc.argv)}", exc.stdout + exc.stderr,
                    status)
            raise
        _append(log, f"{started} $ {format_command(done.argv)}", done.stdout + done.stderr,
                f"exit {done.returncode}")
        return done

    return logged


def _append(log: Path, command: str, output: str, status: str) -> None:
    with log.open("a") as handle:
        handle.write(f"--- {command}\n")
        if output:
            handle.write(output if output.endswith("\n") else output + "\n")
        handle.write(f"--- {status}\n")
