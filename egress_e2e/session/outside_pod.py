"""A throwaway curl pod outside the mesh, in a namespace of its own: how the session asks the
cluster a question (does DNS answer the fake names? does the CNI enforce NetworkPolicy?)."""

from __future__ import annotations

from typing import Any

from egress_e2e.core.labels import ROLE_LABEL_K8S

CONTAINER = "curl"


def documents(namespace: str, pod: str, role: str, image: str) -> tuple[dict[str, Any], ...]:
    """The namespace (no injection label) and the uninjected curl pod, labelled ``app: <pod>``
    and ``egress-e2e/role: <role>``."""
    labels = {"app": pod, ROLE_LABEL_K8S: role}
    namespace_doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": {ROLE_LABEL_K8S: role}},
    }
    pod_doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod,
            "namespace": namespace,
            # No sidecar: the answer must be the cluster's, not a proxy's.
            "labels": {**labels, "sidecar.istio.io/inject": "false"},
        },
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": CONTAINER, "image": image,
                            "command": ["/bin/sleep", "infinity"]}],
        },
    }
    return namespace_doc, pod_doc
