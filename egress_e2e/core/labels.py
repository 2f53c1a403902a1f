"""What marks the things a run creates, so the harness finds (and deletes) only its own.

Docker containers carry dotted labels (Docker's convention), Kubernetes objects slashed ones
(prefix/name, Kubernetes' convention); both carry the run id, a short random hex string.
"""

from __future__ import annotations

import re
import secrets
from typing import Final

# Docker: every container the harness starts; `egress-e2e clean` lists leftovers by it.
HARNESS_LABEL: Final = "egress-e2e.managed"
HARNESS_LABEL_VALUE: Final = "true"
RUN_LABEL: Final = "egress-e2e.run-id"
FAKE_ROLE_LABEL: Final = "egress-e2e.fake"

# Kubernetes: the purpose of a throwaway namespace or pod, and the fake internet's objects.
ROLE_LABEL_K8S: Final = "egress-e2e/role"
RUN_LABEL_K8S: Final = "egress-e2e/run-id"
PART_OF_LABEL: Final = "app.kubernetes.io/part-of"
FAKE_INTERNET_PART_OF: Final = "egress-e2e-fake-internet"


def new_run_id() -> str:
    """12 hex characters: short enough for DNS labels, unique enough for concurrent runs."""
    return secrets.token_hex(6)


# A Kubernetes DNS-1123 label (namespace names, and so scenario ids and run suffixes).
_DNS_LABEL: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_DNS_LABEL: Final = 63


def is_dns_label(name: str) -> bool:
    return len(name) <= MAX_DNS_LABEL and _DNS_LABEL.match(name) is not None
