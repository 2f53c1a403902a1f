"""Subcommands of ``egress-e2e``: each module has ``register(subparsers)`` and sets ``func``."""
