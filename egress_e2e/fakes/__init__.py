"""The hermetic fake internet: the seeds' external hosts, served by local or containerised fakes.

``hosts`` (names, ports, headers: the contract), ``config`` (renders manifests/external/),
``placement`` (the ``FakeInternet`` Protocol), ``local`` / ``containers`` / ``incluster`` (the three
placements), ``coredns`` (the cluster DNS edit). See docs/fakes.md.
"""
