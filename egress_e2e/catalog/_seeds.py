"""The seed files the catalog implements (under /work/shared/seeds in the project's notes)."""

from __future__ import annotations

from typing import Final

SEED_000: Final = "000_543d5b87da9a2dd4.txt"
SEED_001: Final = "001_7a90842d88fcb924.txt"
SEED_002: Final = "002_9a0ee3bd00db2f72.txt"
SEED_003: Final = "003_6fba0f6d9634f460.txt"
SEED_004: Final = "004_8b5e5d7484e68bf9.txt"

# Said by every scenario whose fake host stands in for a real one.
HERMETIC: Final = ("the seed's host names resolve to the fake internet in the cluster DNS, "
                   "so no request leaves the machine")

