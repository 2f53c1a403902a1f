"""Running scenarios under pytest: the plugin (``plugin``: options, session set-up handed to
xdist workers, the ``egress_run`` fixture), one scenario's run with its failure path
(``runner``: try / on failure the diagnostics bundle / always clean up), and the bundle itself
(``diagnostics``).

May import: every room but ``commands`` and ``cli``.
"""
