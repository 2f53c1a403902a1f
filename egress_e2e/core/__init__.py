"""The kernel every other room builds on: the one error hierarchy (``errors``), the one way to
run a tool (``proc``) and a local background process (``localproc``), waits without fixed
sleeps (``waits``) and their budgets (``timeouts``), phase timings (``timings``), where files
live (``paths``), atomic writes (``files``), the labels that mark what a run created
(``labels``) and the one spelling of a redacted value (``redact``).

May import: the standard library and third-party packages only, never another room of
``egress_e2e``.
"""
