"""Every budget the harness waits by, named once, with its default, scaled once.

``--timeout-scale`` multiplies each budget exactly once, in ``scaled``; code that waits reads
its budget from a scaled table and never multiplies a literal itself. The interval between looks
is not scaled: a slower cluster needs a longer budget, not fewer looks.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Final


@dataclass(frozen=True)
class Timeouts:
    """Budgets in seconds, by what is being waited for."""

    # Session set-up.
    cluster: float = 600.0       # kind create, until the node is Ready
    revive: float = 90.0         # a reused cluster's nodes Ready again (else it is rebuilt)
    istio: float = 300.0         # istiod and the egress gateway Ready after the install
    fakes: float = 180.0         # the fake internet's pods Ready (in-cluster placement)
    dns: float = 240.0           # the cluster DNS answers the fake host names
    # NetworkPolicy detection (once per process, when a scenario needs it).
    netpol_ready: float = 120.0  # the detection pod Ready
    netpol_enforce: float = 30.0 # a deny-all policy takes effect
    # One scenario.
    workloads: float = 180.0     # the scenario's client and gateway pods Ready
    converge: float = 90.0       # config propagates and a check holds N times in a row
    settle: float = 10.0         # something must stay absent this long
    probe: float = 10.0          # one curl (a probe's default --max-time)
    evidence: float = 10.0       # a probe's log lines reach the proxies' logs (flush, logs)
    collect: float = 30.0        # one diagnostics command
    interval: float = 1.0        # between looks (never scaled)
    scale: float = 1.0           # the factor applied to everything above but the interval

    def scaled(self, factor: float) -> Timeouts:
        if factor <= 0:
            raise ValueError(f"timeout scale must be positive, got {factor:g}")
        budgets = {f.name: getattr(self, f.name) * factor for f in fields(self)
                   if f.name not in _UNSCALED}
        return replace(self, **budgets, scale=self.scale * factor)


_UNSCALED: Final = frozenset({"interval", "scale"})
DEFAULTS: Final = Timeouts()
