"""Seed 001's echo bodies, read from its observation records (tests/evidence/observations/)."""

from __future__ import annotations

from pathlib import Path

from egress_e2e.evidence import observations

OBSERVATIONS = Path(__file__).parent / "observations"


def seed001_body(name: str) -> str:
    """The echo body the seed recorded for section ``name`` (``seed001-<name>.json``, whatever
    its Istio version): its first check that has one."""
    [path] = OBSERVATIONS.glob(f"*/seed001-{name}.json")
    return next(c.client.body for c in observations.read(path).checks if c.client.body)
