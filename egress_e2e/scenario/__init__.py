"""The scenario model, which the catalog, rendering, evidence, reports and ``list`` all read:
a scenario and its steps and checks (``model``), what a check expects (``expectations``), the
fake internet's host names, ports and headers (``hosts``, the contract with ``fakes``), workload
identities (``identity``) and version gates (``gates``). Plain data and pure functions.

May import: ``core``, ``infra`` (versions only, for gates).
"""
