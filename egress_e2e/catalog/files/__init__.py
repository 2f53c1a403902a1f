"""Scenario files: the catalog's declarations spelt as YAML (``model`` holds the format and its
generated JSON Schema, ``load`` reads a file into a ``Scenario``, ``scaffold`` writes one).

A package, not a topic module: the catalog registry reads ``SCENARIOS`` from its modules only.

May import: ``core``, ``infra``, ``scenario``.
"""
