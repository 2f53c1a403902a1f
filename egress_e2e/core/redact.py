"""One spelling for a value taken out of anything a person or an artifact may see."""

from __future__ import annotations

from typing import Any, Final

REDACTED: Final = "<redacted>"
SECRET_VALUE_KEYS: Final = ("data", "stringData")


def secret_values_hidden(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of a Kubernetes object with a Secret's values replaced (keys kept, so a reader
    still sees which entries it has); any other kind is returned as it is."""
    if obj.get("kind") != "Secret":
        return obj
    copy = dict(obj)
    for key in SECRET_VALUE_KEYS:
        values = copy.get(key)
        if isinstance(values, dict):
            copy[key] = dict.fromkeys(values, REDACTED)
    return copy
