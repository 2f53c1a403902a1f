"""The one error hierarchy of the harness.

Every expected failure (bad input, missing Docker, a tool that failed, a download that did not
verify, a wait that gave up) is an ``EgressE2EError``. The CLI and the pytest plugin print
``str(error)`` as one line and exit non-zero; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence


class EgressE2EError(Exception):
    """Base class: an expected failure with a message a person can act on."""


class ConfigError(EgressE2EError):
    """Bad input: unknown Istio version, unknown scenario id, bad option or env value."""


class DockerUnavailable(EgressE2EError):
    """No Docker engine answers; the e2e suite needs one for kind and the fakes."""


class CommandFailed(EgressE2EError):
    """A subprocess exited non-zero (or timed out). Carries what is needed to debug it."""

    def __init__(self, argv: list[str], returncode: int | None, stdout: str, stderr: str,
                 note: str = "") -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.note = note
        super().__init__(self._message())

    def _message(self) -> str:
        status = "timed out" if self.returncode is None else f"exited {self.returncode}"
        tail = tail_lines(self.stderr) or tail_lines(self.stdout)
        text = f"command {status}: {format_command(self.argv)}"
        if self.note:
            text += f" ({self.note})"
        if tail:
            text += f"; output tail: {tail}"
        return text


class DownloadError(EgressE2EError):
    """A tool download could not be fetched (host unreachable, 404, truncated)."""


class ChecksumMismatch(DownloadError):
    """A downloaded file's sha256 differs from the pinned one."""

    def __init__(self, path: str, expected: str, actual: str) -> None:
        self.path = path
        self.expected = expected
        self.actual = actual
        super().__init__(f"sha256 mismatch for {path}: expected {expected}, got {actual}")


class ClusterError(EgressE2EError):
    """The kind cluster or an existing cluster is not usable (bad kubeconfig, wrong Istio)."""


class FakeInternetError(EgressE2EError):
    """The fake internet did not start or does not answer: a Docker error (an image that did not
    pull, a registry's rate limit, a missing network), a container that exited, a fake that the
    cluster cannot reach. The message carries the container's log tail."""


class ManifestError(EgressE2EError):
    """A manifest is invalid or a template could not be rendered."""


class WaitTimeout(EgressE2EError):
    """A bounded wait gave up; the message carries the last observation."""


def format_command(argv: Sequence[str]) -> str:
    """The command as a person would paste it into a shell."""
    return " ".join(shlex.quote(part) for part in argv)


def tail_lines(text: str, lines: int = 5, limit: int = 600) -> str:
    """The last non-empty lines of a tool's output, joined into one line for a message."""
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    joined = " | ".join(kept)
    return joined[-limit:]


def clip(text: str, limit: int = 200) -> str:
    """``text`` on one line, cut to ``limit`` characters (with "...") for a message."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
