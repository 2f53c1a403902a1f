"""Point the cluster's DNS at the fake internet by editing CoreDNS's Corefile, as pure functions.

The edit is one marked block of extra server blocks, one per fake address, each zone a fake
host name. A zone covers its subdomains, so ``wikipedia.org`` also answers ``en.wikipedia.org``
(seed 003's wildcard) while other names keep going to the cluster's usual ``.:53`` block.
``ServiceEntry`` with ``resolution: DNS`` then resolves the seeds' names to the fake unchanged.

The block is prepended and removed line for line: ``remove_fake_hosts(add_fake_hosts(c))`` is
exactly ``c``, and adding again replaces the block instead of stacking a second one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from egress_e2e.core.errors import ConfigError, ManifestError

BEGIN = "# egress-e2e fake internet: begin"
END = "# egress-e2e fake internet: end"
TTL_SECONDS = 30
COREDNS_NAMESPACE = "kube-system"
COREDNS_CONFIGMAP = "coredns"
COREDNS_DEPLOYMENT = "coredns"  # kubeadm's (and so kind's) name for it
COREFILE_KEY = "Corefile"


def fake_hosts_block(entries: Mapping[str, str], run_id: str) -> str:
    """The marked block for ``entries`` (host name -> IP), ending with a newline."""
    if not entries:
        raise ConfigError("no fake host entries to add to the Corefile")
    by_address: dict[str, list[str]] = {}
    for name, address in sorted(entries.items()):
        by_address.setdefault(_ip(name, address), []).append(name.rstrip(".").lower())
    lines = [f"{BEGIN} (run {run_id}); removed when the session ends"]
    for address, names in sorted(by_address.items()):
        family, other = ("A", "AAAA") if ipaddress.ip_address(address).version == 4 \
            else ("AAAA", "A")
        lines += [
            " ".join(f"{name}:53" for name in names) + " {",
            f"    template IN {family} {{",
            f'        answer "{{{{ .Name }}}} {TTL_SECONDS} IN {family} {address}"',
            "    }",
            # An empty answer, not an error, for the other family, so resolvers settle on
            # the fake's address instead of failing the lookup.
            f"    template IN {other} {{",
            "        rcode NOERROR",
            "    }",
            "}",
        ]
    lines.append(END)
    return "\n".join(lines) + "\n"


def add_fake_hosts(corefile: str, entries: Mapping[str, str], run_id: str) -> str:
    """``corefile`` with the fake hosts block in front (replacing an earlier one)."""
    return fake_hosts_block(entries, run_id) + remove_fake_hosts(corefile)


def remove_fake_hosts(corefile: str) -> str:
    """``corefile`` without the fake hosts block; unchanged when there is none."""
    lines = corefile.splitlines(keepends=True)
    begin = next((i for i, line in enumerate(lines) if line.startswith(BEGIN)), None)
    if begin is None:
        return corefile
    end = next((i for i in range(begin, len(lines)) if lines[i].rstrip("\r\n") == END), None)
    if end is None:
        raise ManifestError(
            f"Corefile has the line {BEGIN!r} at line {begin + 1} but no {END!r} after it; "
            "restore the coredns ConfigMap by hand"
        )
    return "".join(lines[:begin] + lines[end + 1:])


def has_fake_hosts(corefile: str) -> bool:
    return any(line.startswith(BEGIN) for line in corefile.splitlines())



def _ip(name: str, address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError as exc:
        raise ConfigError(
            f"fake host {name}: expected an IP address for the Corefile, got {address!r}"
        ) from exc
