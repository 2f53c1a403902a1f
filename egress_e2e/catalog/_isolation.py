"""Text shared by the scenarios that run on their own gateway in the isolated layout."""

from __future__ import annotations

from typing import Final

# Said by every scenario with a gateway: what the isolated layout changes for all of them.
OWN_GATEWAY_SCOPED: Final = (
    "the isolated layout applies the same objects in the scenario's own namespaces, with its "
    "own gateway (selected by a label no other scenario uses) and exportTo limited to the "
    "namespaces whose proxies need them")
