"""One e2e session's set-up, done once before any scenario: run settings (``settings``), the
cluster, Istio and the fake internet with the clean-up each step registers (``environment``),
whether the cluster DNS answers the fake host names (``dnscheck``), whether the CNI enforces
NetworkPolicy (``netpol``), and the throwaway pod outside the mesh both ask from
(``outside_pod``).

May import: everything below ``running``: ``core``, ``infra``, ``scenario``, ``rendering``,
``fakes``, ``evidence``.
"""
