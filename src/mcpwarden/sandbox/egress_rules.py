"""What the egress proxy lets through: pure decisions, no I/O.

Order matters: the host name is checked against the allowlist *before* any DNS lookup (so a
refused name never reaches a resolver: no DNS exfiltration), then resolved once by the
proxy, and every resolved address must be public: private, loopback, link-local, CGNAT,
multicast, reserved, cloud-metadata and the machine's own addresses are refused. IP
literals (including forms like ``127.1`` or ``2130706433``) are refused outright.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
import socket
from dataclasses import dataclass
from pathlib import Path

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = frozenset({80, 443})
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "168.63.129.16", "fd00:ec2::254")
)
METADATA_NAMES = frozenset({"metadata", "metadata.google.internal", "instance-data", "instance-data.ec2.internal"})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class Verdict:
    allow: bool
    reason: str


@dataclass(frozen=True)
class HostRule:
    host: str  # exact name, or the suffix after "*." when wildcard
    wildcard: bool
    ports: frozenset[int] | None  # None = any port

    @classmethod
    def parse(cls, entry: str) -> HostRule:
        entry = entry.strip().lower().rstrip(".")
        ports: frozenset[int] | None = DEFAULT_PORTS
        if ":" in entry:
            entry, port = entry.rsplit(":", 1)
            ports = None if port == "*" else frozenset({int(port)})
        wildcard = entry.startswith("*.")
        return cls(entry[2:] if wildcard else entry, wildcard, ports)

    def matches(self, host: str, port: int) -> bool:
        if self.ports is not None and port not in self.ports:
            return False
        if self.wildcard:
            return host.endswith("." + self.host)
        return host == self.host


def normalize_host(host: str) -> str | None:
    """Lower-case ASCII host name without trailing dot, or None when it is not a DNS name."""
    host = host.strip().rstrip(".").lower()
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        return None
    if not host or len(host) > 253 or not all(_LABEL.match(label) for label in host.split(".")):
        return None
    return host


def is_ip_literal(host: str) -> bool:
    candidate = host.strip("[]")
    try:
        ipaddress.ip_address(candidate)
        return True
    except ValueError:
        pass
    try:
        socket.inet_aton(candidate)  # accepts 127.1, 0x7f000001, 2130706433, ...
        return True
    except OSError:
        return False


def address_refusal(
    address: IPAddress, own: frozenset[IPAddress] = frozenset(), allow_loopback: bool = False
) -> str | None:
    """Why an address may not be dialled, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return address_refusal(embedded, own, allow_loopback)
    if address in METADATA_ADDRESSES:
        return "cloud metadata address"
    if address.is_loopback:
        return None if allow_loopback else "loopback address"
    if address in own:
        return "an address of this machine"
    if address.is_link_local:
        return "link-local address"
    if address.is_multicast:
        return "multicast address"
    if address.is_unspecified or address.is_reserved:
        return "reserved address"
    if address.is_private or not address.is_global:
        return "private address"
    return None


class EgressRules:
    """The allowlist of one server, compiled once."""

    def __init__(self, allow: list[str]):
        self.rules = [HostRule.parse(entry) for entry in allow]

    def check_name(self, host: str, port: int) -> Verdict:
        """Before DNS: is this name (and port) allowed at all?"""
        if not 0 < port < 65536:
            return Verdict(False, "invalid port")
        if is_ip_literal(host):
            return Verdict(False, "IP literals are refused; the allowlist names hosts")
        name = normalize_host(host)
        if name is None:
            return Verdict(False, "not a valid host name")
        if name in METADATA_NAMES:
            return Verdict(False, "cloud metadata host")
        for rule in self.rules:
            if rule.matches(name, port):
                return Verdict(True, "allowlisted")
        return Verdict(False, "host not on the allowlist")


def own_addresses() -> frozenset[IPAddress]:
    """This machine's interface addresses (from /proc; empty where /proc is absent)."""
    found: set[IPAddress] = set()
    try:
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
    except OSError:
        lines = []
    for previous, line in itertools.pairwise(lines):
        if "/32 host LOCAL" in line:
            candidate = previous.strip().split()[-1]
            try:
                found.add(ipaddress.IPv4Address(candidate))
            except ValueError:
                pass
    try:
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            raw = line.split()[0]
            found.add(ipaddress.IPv6Address(int(raw, 16)))
    except (OSError, ValueError, IndexError):
        pass
    return frozenset(found)
