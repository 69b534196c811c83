"""The per-server egress proxy: an asyncio HTTP proxy (CONNECT for TLS, absolute-form
requests for plain HTTP) run inside the gateway. It is the sandbox's only way out.

Every attempt is audited as {"event": "egress", "server", "host", "port", "verdict",
"reason"}. Decisions come from egress_rules: the name is checked before any DNS lookup,
resolved once, and the proxy dials the address it checked (no second resolution).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import socket
from collections.abc import Callable
from typing import Any

from mcpwarden.sandbox.egress_rules import EgressRules, IPAddress, Verdict, address_refusal, own_addresses

MAX_HEAD_BYTES = 16 * 1024
HEAD_TIMEOUT = 10.0
RESOLVE_TIMEOUT = 5.0
CONNECT_TIMEOUT = 10.0
IDLE_TIMEOUT = 3600.0  # per direction; a quiet direction ends the tunnel after this
MAX_CONNECTIONS = 128
CHUNK = 64 * 1024
MAX_LOGGED_HOST = 80
MAX_LOGGED_LABEL = 32
_HOP_HEADERS = (b"proxy-connection", b"proxy-authorization", b"connection", b"keep-alive")

Audit = Callable[[dict[str, Any]], None]


class EgressProxy:
    """Serves one listening socket for one server.

    ``allow_loopback`` exists for tests only (a loopback test server standing in for an
    allowlisted host); it is off by default and not reachable from the policy."""

    def __init__(self, server: str, rules: EgressRules, audit: Audit, *, allow_loopback: bool = False):
        self.server = server
        self.rules = rules
        self.audit = audit
        self.allow_loopback = allow_loopback
        self.own = own_addresses()
        self._server: asyncio.base_events.Server | None = None
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, listener: socket.socket) -> None:
        self._server = await asyncio.start_server(self._handle, sock=listener, limit=MAX_HEAD_BYTES)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def decide(self, host: str, port: int) -> tuple[Verdict, list[IPAddress]]:
        """The full decision: name, then a single resolution, then every address."""
        verdict = self.rules.check_name(host, port)
        if not verdict.allow:
            return verdict, []
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host.rstrip("."), port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT
            )
        except (TimeoutError, OSError) as exc:
            return Verdict(False, f"cannot resolve ({type(exc).__name__})"), []
        addresses: list[IPAddress] = []
        for info in infos:
            address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
            refusal = address_refusal(address, self.own, self.allow_loopback)
            if refusal is not None:
                return Verdict(False, f"resolves to a {refusal}"), []
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            return Verdict(False, "no address"), []
        return Verdict(True, "allowlisted"), addresses

    def _record(self, host: str, port: int, verdict: Verdict) -> None:
        self.audit({"event": "egress", "server": self.server, "host": loggable_host(host), "port": port,
                    "verdict": "allow" if verdict.allow else "deny", "reason": verdict.reason})

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            async with self._slots:
                await self._serve(reader, writer)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
        request_line, _, header_block = head.partition(b"\r\n")
        parts = request_line.split(b" ")
        if len(parts) != 3:
            await _refuse(writer, 400, "malformed request line")
            return
        method, target, version = parts
        try:
            host, port, forward_head = _parse_target(method, target, version, header_block)
        except ValueError as exc:
            await _refuse(writer, 400, str(exc))
            return
        verdict, addresses = await self.decide(host, port)
        self._record(host, port, verdict)
        if not verdict.allow:
            await _refuse(writer, 403, f"egress to {host[:253]}:{port} denied: {verdict.reason}")
            return
        upstream = await _dial(addresses, port)
        if upstream is None:
            await _refuse(writer, 502, f"cannot connect to {host}:{port}")
            return
        up_reader, up_writer = upstream
        try:
            if forward_head is None:
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
            else:
                up_writer.write(forward_head)
                await up_writer.drain()
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.close()
            with contextlib.suppress(Exception):
                await up_writer.wait_closed()


def loggable_host(host: str) -> str:
    """The host as the audit log may hold it. A refused name can carry smuggled data (DNS-style
    exfiltration: ``<secret>.attacker.example``), so long names or labels are logged as a hash
    of the name plus its last two labels."""
    labels = host.split(".")
    if len(host) <= MAX_LOGGED_HOST and all(len(label) <= MAX_LOGGED_LABEL for label in labels):
        return host
    digest = hashlib.sha256(host.encode("utf-8", "replace")).hexdigest()[:16]
    return f"sha256:{digest}." + ".".join(label[:MAX_LOGGED_LABEL] for label in labels[-2:])


def _parse_target(method: bytes, target: bytes, version: bytes, header_block: bytes) -> tuple[str, int, bytes | None]:
    """(host, port, head to forward or None for CONNECT)."""
    if method == b"CONNECT":
        host, sep, port = target.decode("latin-1").rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError("CONNECT needs host:port")
        return host.strip("[]"), int(port), None
    text = target.decode("latin-1")
    if not text.lower().startswith("http://"):
        raise ValueError("only CONNECT and absolute http:// requests are proxied")
    rest = text[7:]
    authority, slash, path = rest.partition("/")
    authority = authority.rpartition("@")[2]
    host, port = authority, 80
    if authority.startswith("["):
        host, _, tail = authority[1:].partition("]")
        port = int(tail[1:]) if tail.startswith(":") and tail[1:].isdigit() else 80
    elif ":" in authority:
        host, _, port_text = authority.rpartition(":")
        if not port_text.isdigit():
            raise ValueError("bad port")
        port = int(port_text)
    lines = [line for line in header_block.split(b"\r\n") if line]
    kept = [line for line in lines if line.split(b":", 1)[0].strip().lower() not in _HOP_HEADERS]
    head = b" ".join([method, ("/" + path if slash else "/").encode("latin-1"), version]) + b"\r\n"
    head += b"".join(line + b"\r\n" for line in kept) + b"Connection: close\r\n\r\n"
    return host, port, head


async def _dial(addresses: list[IPAddress], port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    for address in addresses[:4]:
        try:
            return await asyncio.wait_for(asyncio.open_connection(str(address), port), CONNECT_TIMEOUT)
        except (TimeoutError, OSError):
            continue
    return None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await asyncio.wait_for(reader.read(CHUNK), IDLE_TIMEOUT)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    finally:
        if writer.can_write_eof():
            with contextlib.suppress(OSError):
                writer.write_eof()


async def _refuse(writer: asyncio.StreamWriter, status: int, message: str) -> None:
    reason = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}[status]
    body = f"mcpwarden: {message}\n".encode()
    writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
                 f"Connection: close\r\n\r\n".encode() + body)
    with contextlib.suppress(OSError):
        await writer.drain()
