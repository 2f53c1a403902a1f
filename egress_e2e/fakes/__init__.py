"""The hermetic fake internet: the seeds' external hosts, served by local processes, containers
on the kind network or pods in an existing cluster, with a per-run PKI.

``config`` (renders manifests/external/), ``pki`` (the per-run CA and certificates),
``placement`` (the ``FakeInternet`` Protocol and the placement names), ``local`` /
``containers`` / ``incluster`` (the three placements), ``coredns`` (the cluster DNS edit). The
host names, ports and headers they serve are ``scenario.hosts``. See docs/fakes.md.

May import: ``core``, ``infra``, ``scenario``.
"""
