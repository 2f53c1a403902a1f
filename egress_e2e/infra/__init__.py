"""The infrastructure the e2e suite stands on, each talked to through a thin layer: pinned
versions (``versions``, ``images``, the CI ``matrix``), verified tool downloads (``tools``),
kind clusters (``cluster``), the Istio install (``istio``), the Docker engine (``docker``) and
the Kubernetes API (``kube``, ``rollout``). These modules decide little: they build the exact
commands and requests, and send them.

May import: ``core``.
"""
