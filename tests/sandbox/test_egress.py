"""The egress proxy: decisions before DNS, address refusal, and real CONNECT/HTTP through a
real sandbox's network namespace. Only loopback addresses are ever dialled."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from pathlib import Path

import pytest

from mcpwarden.sandbox.egress_proxy import EgressProxy
from mcpwarden.sandbox.egress_rules import EgressRules, address_refusal

from .conftest import needs_bwrap, needs_python, run_python

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("host", "port", "allow", "reason"),
    [
        ("api.example.com", 443, True, "allowlisted"),
        ("API.Example.COM.", 80, True, "allowlisted"),
        ("api.example.com", 22, False, "host not on the allowlist"),
        ("a.b.github.com", 443, True, "allowlisted"),
        ("github.com", 443, False, "host not on the allowlist"),
        ("evilgithub.com", 443, False, "host not on the allowlist"),
        ("svc.internal.test", 8443, True, "allowlisted"),
        ("svc.internal.test", 8444, False, "host not on the allowlist"),
        ("any.port.test", 1, True, "allowlisted"),
        ("127.0.0.1", 443, False, "IP literals are refused; the allowlist names hosts"),
        ("127.1", 443, False, "IP literals are refused; the allowlist names hosts"),
        ("2130706433", 443, False, "IP literals are refused; the allowlist names hosts"),
        ("0x7f000001", 443, False, "IP literals are refused; the allowlist names hosts"),
        ("[::1]", 443, False, "IP literals are refused; the allowlist names hosts"),
        ("metadata.google.internal", 80, False, "cloud metadata host"),
        ("bad host", 443, False, "not a valid host name"),
        ("x" * 300 + ".com", 443, False, "not a valid host name"),
    ],
)
def test_name_decision_before_dns(host: str, port: int, allow: bool, reason: str) -> None:
    rules = EgressRules(["api.example.com", "*.github.com", "svc.internal.test:8443", "any.port.test:*",
                         "metadata.google.internal"])
    verdict = rules.check_name(host, port)
    assert (verdict.allow, verdict.reason) == (allow, reason)


@pytest.mark.parametrize(
    ("address", "refusal"),
    [
        ("10.1.2.3", "private address"),
        ("192.168.0.1", "private address"),
        ("100.64.0.1", "private address"),
        ("127.0.0.2", "loopback address"),
        ("::1", "loopback address"),
        ("::ffff:10.0.0.1", "private address"),
        ("169.254.169.254", "cloud metadata address"),
        ("169.254.1.1", "link-local address"),
        ("fe80::1", "link-local address"),
        ("224.0.0.1", "multicast address"),
        ("0.0.0.0", "reserved address"),
        ("2002:a00:1::", "private address"),
        ("64:ff9b::7f00:1", "loopback address"),
        ("168.63.129.16", "cloud metadata address"),
        ("1.1.1.1", None),
        ("2606:4700::1111", None),
    ],
)
def test_address_refusal(address: str, refusal: str | None) -> None:
    assert address_refusal(ipaddress.ip_address(address)) == refusal


def test_smuggling_host_names_are_hashed_in_the_audit_log() -> None:
    from mcpwarden.sandbox.egress_proxy import loggable_host

    assert loggable_host("api.example.com") == "api.example.com"
    smuggled = "c2stbGl2ZS1zZWNyZXQtdG9rZW4tdmFsdWUtMTIzNDU2Nzg5MA.attacker.example"
    logged = loggable_host(smuggled)
    assert logged.startswith("sha256:") and logged.endswith(".attacker.example")
    assert "c2stbGl2" not in logged


def test_own_addresses_are_refused() -> None:
    own = frozenset({ipaddress.ip_address("203.0.113.7")})
    assert address_refusal(ipaddress.ip_address("203.0.113.7"), own) == "an address of this machine"


async def test_loopback_switch_is_off_by_default() -> None:
    audit: list[dict] = []
    proxy = EgressProxy("t", EgressRules(["localhost:*"]), audit.append)
    verdict, addresses = await proxy.decide("localhost", 8080)
    assert not verdict.allow and "loopback" in verdict.reason and addresses == []
    proxy_for_tests = EgressProxy("t", EgressRules(["localhost:*"]), audit.append, allow_loopback=True)
    verdict, addresses = await proxy_for_tests.decide("localhost", 8080)
    assert verdict.allow and all(a.is_loopback for a in addresses)


async def _http_server(body: bytes) -> tuple[asyncio.base_events.Server, int, list[bytes]]:
    requests: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        requests.append(head)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], requests


CLIENT = """
import json, os, socket, urllib.request
proxy = os.environ["HTTPS_PROXY"].rsplit(":", 1)
def connect(target):
    s = socket.create_connection((proxy[0].split("//")[1], int(proxy[1])), timeout=10)
    s.sendall(f"CONNECT {target} HTTP/1.1\\r\\nHost: {target}\\r\\n\\r\\n".encode())
    status = s.recv(200).split(b" ")[1].decode()
    if status == "200":
        s.sendall(b"GET /tunnel HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
        return status, data.split(b"\\r\\n\\r\\n", 1)[1].decode()
    return status, ""
out = {}
for target in TARGETS:
    out[target] = connect(target)
out["plain_http"] = urllib.request.urlopen(f"http://localhost:{PORT}/plain", timeout=10).read().decode()
print(json.dumps(out))
"""


@needs_bwrap
@needs_python
async def test_sandbox_reaches_only_allowlisted_hosts_through_the_proxy(state_dir: Path) -> None:
    server, port, requests = await _http_server(b"hello from loopback")
    targets = [f"localhost:{port}", f"127.0.0.1:{port}", "exfil-canary.example.com:443", f"localhost:{port + 1}"]
    code = f"TARGETS = {targets!r}\nPORT = {port}\n" + CLIENT
    try:
        result = await run_python(code, {"network": {"allow": [f"localhost:{port}"]}}, state_dir,
                                  allow_loopback=True)
    finally:
        server.close()
        await server.wait_closed()
    out = json.loads(result.stdout.strip().splitlines()[-1]) if result.stdout.strip() else {}
    assert out == {
        f"localhost:{port}": ["200", "hello from loopback"],
        f"127.0.0.1:{port}": ["403", ""],
        "exfil-canary.example.com:443": ["403", ""],
        f"localhost:{port + 1}": ["403", ""],
        "plain_http": "hello from loopback",
    }, result.stderr
    assert any(b"GET /plain " in r for r in requests) and any(b"GET /tunnel " in r for r in requests)
    egress = [(r["host"], r["port"], r["verdict"], r["reason"]) for r in result.audit if r["event"] == "egress"]
    assert ("localhost", port, "allow", "allowlisted") in egress
    assert ("127.0.0.1", port, "deny", "IP literals are refused; the allowlist names hosts") in egress
    assert ("exfil-canary.example.com", 443, "deny", "host not on the allowlist") in egress
    assert ("localhost", port + 1, "deny", "host not on the allowlist") in egress
    assert len(egress) == 5


@needs_bwrap
@needs_python
async def test_without_the_test_switch_loopback_is_refused_even_if_allowlisted(state_dir: Path) -> None:
    server, port, requests = await _http_server(b"should not be reached")
    code = f"TARGETS = {[f'localhost:{port}']!r}\nPORT = {port}\n" + CLIENT.split("out[\"plain_http\"]")[0] + \
        "print(json.dumps(out))\n"
    try:
        result = await run_python(code, {"network": {"allow": [f"localhost:{port}"]}}, state_dir)
    finally:
        server.close()
        await server.wait_closed()
    assert json.loads(result.stdout) == {f"localhost:{port}": ["403", ""]}, result.stderr
    assert requests == []
    deny = [r for r in result.audit if r["event"] == "egress"]
    assert deny and deny[0]["verdict"] == "deny" and "loopback" in deny[0]["reason"]
