"""Ports handed out for one local config never repeat within the process: two listens on one
port fail nginx ("duplicate default server") and Envoy in ways a retry on bind does not catch."""

from __future__ import annotations

import socket

from egress_e2e.core import localproc


def test_free_ports_never_repeat_and_are_bindable() -> None:
    seen = [localproc.free_port() for _ in range(300)]
    assert len(set(seen)) == len(seen)
    with socket.socket() as sock:
        sock.bind((localproc.LOOPBACK, seen[-1]))  # free for real, not just new


def test_a_port_the_kernel_hands_out_again_is_skipped(monkeypatch) -> None:
    # The kernel may return a just-closed port: simulate it by handing the last one out again.
    first = localproc.free_port()
    real_socket = socket.socket
    returned: list[int] = []

    class Again(real_socket):  # type: ignore[misc, valid-type]
        def getsockname(self):  # type: ignore[no-untyped-def]
            if not returned:
                returned.append(first)
                return (localproc.LOOPBACK, first)
            return super().getsockname()

    monkeypatch.setattr(localproc.socket, "socket", Again)
    second = localproc.free_port()
    assert returned == [first] and second != first
