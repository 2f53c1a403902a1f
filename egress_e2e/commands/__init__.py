"""Subcommands of ``egress-e2e``: each module has ``register(subparsers)`` and sets ``func``.

May import: every room but ``cli``; heavy ones lazily, so ``egress-e2e --help`` stays fast.
"""
