"""istiod's validating-webhook rules that users meet, checked offline.

The API server's schema and CEL rules (the CRDs) say what may be stored; istiod's webhook then
refuses more. Each rule here carries the message istiod gives (its Go format string filled in the
same way, so the text can be searched for in Istio's source) and cites the file of Istio's source
it comes from, on branch release-1.31.

Only what the CRD lets through is checked here. The API server runs schema and CEL validation
before the validating webhook, so a document the CRD rejects never reaches istiod: a required
field that is absent, or a rule the CRD's ``x-kubernetes-validations`` already hold
(``manifests/charts/base/files/crd-all.gen.yaml``), is left to the schema side of lint. Only
errors are reported: istiod's warnings do not refuse the object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from egress_e2e.rendering.webhook._common import _Doc, _Found, _map, _str
from egress_e2e.rendering.webhook.authorization import _authorization_policy
from egress_e2e.rendering.webhook.destination_rule import _destination_rule
from egress_e2e.rendering.webhook.envoy_filter import _envoy_filter
from egress_e2e.rendering.webhook.gateway import _gateway
from egress_e2e.rendering.webhook.service_entry import _service_entry
from egress_e2e.rendering.webhook.sidecar import _sidecar
from egress_e2e.rendering.webhook.virtual_service import _virtual_service

_CHECKS: Final[Mapping[tuple[str, str], Callable[[_Doc, _Found], None]]] = {
    ("networking.istio.io", "Gateway"): _gateway,
    ("networking.istio.io", "DestinationRule"): _destination_rule,
    ("networking.istio.io", "VirtualService"): _virtual_service,
    ("networking.istio.io", "Sidecar"): _sidecar,
    ("networking.istio.io", "EnvoyFilter"): _envoy_filter,
    ("networking.istio.io", "ServiceEntry"): _service_entry,
    ("security.istio.io", "AuthorizationPolicy"): _authorization_policy,
}


def webhook_problems(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field path, message) for each rule istiod's webhook would refuse ``body`` for."""
    group = _str(body.get("apiVersion")).partition("/")[0]
    check = _CHECKS.get((group, _str(body.get("kind"))))
    if check is None:
        return []
    meta = _map(body.get("metadata"))
    doc = _Doc(_str(meta.get("name")), _str(meta.get("namespace")), _map(meta.get("labels")),
               _map(body.get("spec")))
    found = _Found()
    check(doc, found)
    return found.items
