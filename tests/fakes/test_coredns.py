"""The Corefile edit as a pure function: add, idempotent re-add, remove restores the original."""

from __future__ import annotations

import pytest

from egress_e2e.core.errors import ConfigError, ManifestError
from egress_e2e.fakes import coredns
from egress_e2e.fakes.placement import dns_entries
from egress_e2e.scenario import hosts

# kind's default Corefile (kind v0.2x), byte for byte, including the final newline.
KIND_COREFILE = """.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
"""
WEB, PROXY = "172.18.0.5", "172.18.0.6"
ENTRIES = dns_entries(WEB, PROXY)


def _server_blocks(corefile: str) -> dict[str, list[str]]:
    """Top-level server blocks: the zones line -> its body lines (a small Corefile reader)."""
    blocks: dict[str, list[str]] = {}
    depth, current = 0, ""
    for line in corefile.splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if depth == 0 and text.endswith("{"):
            current = text[:-1].strip()
            blocks[current] = []
        elif depth > 0:
            blocks[current].append(text)
        depth += text.count("{") - text.count("}")
    assert depth == 0, "unbalanced braces"
    return blocks


def test_add_maps_every_fake_host_to_its_address() -> None:
    edited = coredns.add_fake_hosts(KIND_COREFILE, ENTRIES, "run1")
    blocks = _server_blocks(edited)

    assert ".:53" in blocks  # the cluster's own block is still there
    web_zones = next(zones for zones in blocks if f"{hosts.HTTPBIN}:53" in zones.split())
    assert set(web_zones.split()) == {f"{h}:53" for h in hosts.ALL_HOSTS
                                      if h != hosts.CONNECT_PROXY}
    assert f'answer "{{{{ .Name }}}} 30 IN A {WEB}"' in blocks[web_zones]
    assert blocks[f"{hosts.CONNECT_PROXY}:53"][1] == f'answer "{{{{ .Name }}}} 30 IN A {PROXY}"'
    # wikipedia.org is a zone, so it also answers en./de./any language (seed 003's wildcard).
    assert f"{hosts.WIKIPEDIA}:53" in web_zones.split()
    assert "template IN AAAA {" in blocks[web_zones]


def test_add_leaves_the_original_intact_after_the_block() -> None:
    edited = coredns.add_fake_hosts(KIND_COREFILE, ENTRIES, "run1")

    assert edited.endswith(KIND_COREFILE)
    assert edited.startswith(coredns.BEGIN)
    assert coredns.has_fake_hosts(edited)
    assert not coredns.has_fake_hosts(KIND_COREFILE)


def test_add_again_is_idempotent_and_replaces_an_older_block() -> None:
    once = coredns.add_fake_hosts(KIND_COREFILE, ENTRIES, "run1")

    assert coredns.add_fake_hosts(once, ENTRIES, "run1") == once
    moved = coredns.add_fake_hosts(once, dns_entries("172.18.0.7", PROXY), "run2")
    assert moved.count(coredns.BEGIN) == 1
    assert "172.18.0.5" not in moved
    assert moved == coredns.add_fake_hosts(KIND_COREFILE, dns_entries("172.18.0.7", PROXY),
                                           "run2")


@pytest.mark.parametrize("original", [
    KIND_COREFILE,
    KIND_COREFILE.rstrip("\n"),                 # no final newline
    KIND_COREFILE.replace("\n", "\r\n"),        # CRLF, as some editors save it
    "# a comment first\n" + KIND_COREFILE + "\nexample.org:53 {\n    whoami\n}\n",
])
def test_remove_restores_the_original_exactly(original) -> None:
    edited = coredns.add_fake_hosts(original, ENTRIES, "run1")

    assert coredns.remove_fake_hosts(edited) == original
    assert coredns.remove_fake_hosts(coredns.add_fake_hosts(edited, ENTRIES, "x")) == original


def test_remove_without_a_block_changes_nothing() -> None:
    assert coredns.remove_fake_hosts(KIND_COREFILE) == KIND_COREFILE


def test_a_damaged_block_is_reported_not_guessed() -> None:
    damaged = coredns.add_fake_hosts(KIND_COREFILE, ENTRIES, "run1").replace(coredns.END, "")

    with pytest.raises(ManifestError, match="no '# egress-e2e fake internet: end'"):
        coredns.remove_fake_hosts(damaged)


def test_ipv6_addresses_get_aaaa_answers() -> None:
    block = coredns.fake_hosts_block({hosts.HTTPBIN: "fd00::5"}, "run1")

    assert 'answer "{{ .Name }} 30 IN AAAA fd00::5"' in block
    assert "template IN A {" in block


@pytest.mark.parametrize("entries", [{}, {hosts.HTTPBIN: "fake-web.svc"}])
def test_bad_entries_are_config_errors(entries) -> None:
    with pytest.raises(ConfigError):
        coredns.fake_hosts_block(entries, "run1")
