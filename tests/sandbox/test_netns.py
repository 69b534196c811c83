"""The network namespace helper's answer to the gateway (``sandbox/netns.py``)."""

from __future__ import annotations

import socket

import pytest

from mcpwarden.sandbox import netns
from mcpwarden.sandbox.probe import probe

pytestmark = pytest.mark.skipif(not probe().network_namespaces, reason="no network namespaces here")


class PortWithAnE(socket.socket):
    """The helper's listener gets port 0x4545: its low byte is "E", the byte errors start with."""

    def bind(self, address: object) -> None:
        super().bind(("127.0.0.1", 0x4545) if address == ("127.0.0.1", 0) else address)


def test_a_port_whose_byte_reads_as_an_error_is_still_an_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Such a port (one in 256) made the namespace fail with a garbled error: the answer was
    told from an error by its first byte, which was the port's own."""
    monkeypatch.setattr(netns.socket, "socket", PortWithAnE)  # the forked helper inherits it
    namespace = netns.create()
    try:
        assert namespace.port == 0x4545
    finally:
        namespace.close()
