"""What the fake echoed, and what curl said when it failed.

python httpbin's ``/headers`` answers ``{"headers": {"Accept": "*/*"}}``; go-httpbin answers
``{"headers": {"Accept": ["*/*"]}}``. Both become one case-insensitive ``Headers`` view. curl's own
failure is its exit code plus an error line such as
``curl: (35) error:1408F10B:SSL routines:ssl3_get_record:wrong version number``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass


class Headers(Mapping[str, str]):
    """Case-insensitive, multi-valued headers; ``headers[name]`` joins repeats with ", "."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._values: dict[str, list[str]] = {}
        self._names: dict[str, str] = {}
        for name, value in pairs:
            key = name.lower()
            self._names.setdefault(key, name)
            self._values.setdefault(key, []).append(value)

    def __getitem__(self, name: str) -> str:
        return ", ".join(self._values[name.lower()])

    def __iter__(self) -> Iterator[str]:
        return iter(self._names.values())

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def get_all(self, name: str) -> tuple[str, ...]:
        return tuple(self._values.get(name.lower(), ()))

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


def headers_from_json(data: object) -> Headers:
    """A ``{"name": "v"}`` or ``{"name": ["v", ...]}`` mapping as ``Headers``."""
    if not isinstance(data, dict):
        raise ValueError(f"headers are not a JSON object: {type(data).__name__}")
    pairs: list[tuple[str, str]] = []
    for name, value in data.items():
        if isinstance(value, list):
            pairs.extend((str(name), str(item)) for item in value)
        else:
            pairs.append((str(name), str(value)))
    return Headers(pairs)


def parse_headers_body(body: str) -> Headers:
    """The request headers from an httpbin ``/headers`` (or ``/anything``) JSON body."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not an httpbin echo (not JSON): {body[:120]!r}") from exc
    if not isinstance(data, dict) or "headers" not in data:
        raise ValueError(f"not an httpbin echo (no 'headers' key): {body[:120]!r}")
    return headers_from_json(data["headers"])


# --- curl's failure --------------------------------------------------------------------------

_CURL_ERROR = re.compile(r"^curl: \((?P<code>\d+)\) (?P<message>.*)$")
# kubectl exec prints this when the command in the pod exits non-zero.
_EXEC_EXIT = re.compile(r"^command terminated with exit code (?P<code>\d+)$")


@dataclass(frozen=True)
class CurlError:
    """curl's exit code and the text of its ``curl: (N) ...`` line (empty if it printed none)."""

    exit_code: int
    message: str

    def __str__(self) -> str:
        return f"curl exit {self.exit_code}: {self.message or '(no error line)'}"


def parse_curl_error(stderr: str, exit_code: int | None = None) -> CurlError | None:
    """curl's failure from its stderr (and the exit code, when the caller has one).

    None when curl succeeded. The code is, in order: ``exit_code``, kubectl exec's
    ``command terminated with exit code N``, the ``curl: (N)`` line.
    """
    line_code: int | None = None
    message = ""
    exec_code: int | None = None
    for line in stderr.splitlines():
        text = line.strip()
        found = _CURL_ERROR.match(text)
        if found:
            line_code, message = int(found["code"]), found["message"]
            continue
        exited = _EXEC_EXIT.match(text)
        if exited:
            exec_code = int(exited["code"])
    code = exit_code if exit_code is not None else exec_code
    if code is None:
        code = line_code
    if not code:
        return None
    return CurlError(code, message)
