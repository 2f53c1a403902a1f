"""The session's edit of the cluster DNS: CoreDNS's Corefile gets a marked block that sends the
seeds' host names to the fake internet (``fakes.coredns`` decides the text), and loses it again
at the end. ``egress-e2e clean --kubeconfig`` undoes a block a killed session left behind."""

from __future__ import annotations

import datetime
from collections.abc import Callable

from egress_e2e.core.errors import ClusterError
from egress_e2e.fakes import coredns
from egress_e2e.infra.kube import KubeApi


def edit(api: KubeApi, change: Callable[[str], str]) -> bool:
    """Apply ``change`` to the Corefile; True when it changed something."""
    data = api.configmap_data(coredns.COREDNS_NAMESPACE, coredns.COREDNS_CONFIGMAP)
    corefile = data.get(coredns.COREFILE_KEY)
    if corefile is None:
        raise ClusterError(f"configmap {coredns.COREDNS_NAMESPACE}/{coredns.COREDNS_CONFIGMAP}"
                           f" has no {coredns.COREFILE_KEY}")
    updated = change(corefile)
    if updated == corefile:
        return False
    api.replace_configmap_data(coredns.COREDNS_NAMESPACE, coredns.COREDNS_CONFIGMAP,
                               {coredns.COREFILE_KEY: updated})
    return True


def undo(api: KubeApi) -> bool:
    """Remove the block, and restart CoreDNS (without waiting) so no replica keeps answering
    the seeds' names with fakes that are gone. True when there was a block to remove."""
    if not edit(api, coredns.remove_fake_hosts):
        return False
    api.restart_deployment(coredns.COREDNS_NAMESPACE, coredns.COREDNS_DEPLOYMENT,
                           datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
    return True
