"""Text shared by the scenarios that run on their own gateway in the isolated layout."""

from __future__ import annotations

from typing import Final

# Said by every scenario with a gateway: what the isolated layout changes for all of them.
OWN_GATEWAY_SCOPED: Final = (
    "the isolated layout applies the same objects in the scenario's own namespaces, with its "
    "own gateway (selected by a label no other scenario uses) and exportTo limited to the "
    "namespaces whose proxies need them")

# Said by every scenario whose seed echo showed X-Envoy-Internal behind a gateway.
GATEWAY_IS_THE_EDGE: Final = (
    "the seed's echo shows X-Envoy-Internal: true (Istio <= 1.24); on Istio 1.30/1.31 a gateway "
    "treats no peer address as internal (use_remote_address with no internal_address_config "
    "unless ENABLE_HCM_INTERNAL_NETWORKS, pilot/pkg/networking/core/gateway.go; Envoy >= 1.33 "
    "dropped the private-range default, Istio release note 53402), so the gateway writes a new "
    "x-request-id, sends no X-Envoy-Internal and adds X-Envoy-External-Address")
