"""istio-egress-e2e: end-to-end proof that Istio egress-gateway patterns work."""

__version__ = "0.1.0"
