"""``mcpwarden audit --introspect``: start each stdio server that loads inside mcpwarden's
sandbox, list its tools over raw JSON-RPC, and write the list to the tool cache that the
poisoning check reads (``<home>/.cache/mcpwarden/tools/<client>--<server>.json``).

Each server runs as ``python -m mcpwarden run --policy TMP --server NAME`` (the real gateway,
so the real sandbox) under the policy of introspect_policy.py. Everything is bounded: one
overall timeout per server, a page count, a byte budget, a size per message. The child is the
leader of its own process group; on timeout or error the group is ended (TERM, then KILL).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml

from mcpwarden import __version__
from mcpwarden.auditor.checks.poisoning import INTROSPECT_SCHEMA as CACHE_SCHEMA
from mcpwarden.auditor.introspect_policy import IntrospectPolicy, build_policy
from mcpwarden.auditor.model import Inventory, ServerEntry

PROTOCOL_VERSION = "2025-11-25"
STATELESS_VERSION = "2026-07-28"
CLIENT_INFO = {"name": "mcpwarden-audit", "version": __version__}
# The 2026-07-28 era has no handshake: every request carries these three keys in `_meta`
# (servers answer -32602 when one is missing).
STATELESS_META = {
    "io.modelcontextprotocol/protocolVersion": STATELESS_VERSION,
    "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
    "io.modelcontextprotocol/clientCapabilities": {},
}
UNSUPPORTED_PROTOCOL_VERSION = -32022
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
MAX_TOTAL_BYTES = 16 * 1024 * 1024
MAX_PAGES = 50
MAX_TOOLS = 5000
MAX_SERVERS = 100
SHUTDOWN_GRACE = 5.0
KILL_GRACE = 2.0
STDERR_KEEP = 200  # lines
REASON_CHARS = 300
# The server's env values are hidden in every text it controls that a reason shows (an error
# message, a version list): a server may echo its token ("invalid key abc..."). Shorter values
# are flags and languages ("1", "en"), not secrets.
MIN_HIDDEN_CHARS = 4
# Exit codes of `mcpwarden run` (cli.EXIT_CODES) that say why it stopped before serving.
EXIT_REASONS = {
    5: "its policy was refused",
    6: "refused by the sandbox",
    7: "the sandbox could not start it",
    8: "a secret it needs is missing",
    9: "the server failed",
}
_NAME = re.compile(r"[^A-Za-z0-9_.-]")

Status = Literal["ok", "failed", "timeout", "refused"]


class IntrospectError(Exception):
    """Introspection of one server failed; the message is safe to show (no values, no traces)."""

    def __init__(self, message: str, status: Status = "failed"):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class IntrospectOptions:
    timeout: float = 30.0
    servers: tuple[str, ...] = ()  # only these server names (empty: every stdio server that loads)
    max_pages: int = MAX_PAGES
    max_bytes: int = MAX_TOTAL_BYTES


@dataclass
class Introspection:
    """What introspecting one configured server gave."""

    server: ServerEntry
    status: Status
    reason: str = ""
    tools: list[dict[str, Any]] = field(default_factory=list)
    cache: Path | None = None
    seconds: float = 0.0
    pages: int = 0
    protocol_version: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def selected(inventory: Inventory, names: tuple[str, ...] = ()) -> list[ServerEntry]:
    """Stdio servers that load (mcpwarden's own policy entries are reached through the clients)."""
    out = [
        s
        for s in inventory.servers
        if s.loads and s.transport == "stdio" and s.command and s.client != "mcpwarden"
        and (not names or s.name in names)
    ]
    if len(out) > MAX_SERVERS:
        inventory.notes.append(
            f"--introspect started the first {MAX_SERVERS} of {len(out)} servers; "
            "name the others with --introspect-server"
        )
    return out[:MAX_SERVERS]


def cache_path(home: Path, server: ServerEntry) -> Path:
    client = _NAME.sub("_", server.client)[:40]
    name = _NAME.sub("_", server.name)[:80]
    return home / ".cache" / "mcpwarden" / "tools" / f"{client}--{name}.json"


def write_cache(path: Path, server: ServerEntry, display: str, result: Introspection) -> None:
    """Atomically, mode 0600; refuses a symlinked tools directory."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if directory.is_symlink() or not directory.is_dir():
        raise IntrospectError(f"{directory} is not a plain directory; tool list not written")
    document = {
        "schema": CACHE_SCHEMA,
        "source": "mcpwarden audit --introspect",
        "client": server.client,
        "scope": server.scope,
        "server": server.name,
        "config": display,
        "introspected_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "protocol_version": result.protocol_version,
        "tools": result.tools,
    }
    fd, tmp = tempfile.mkstemp(prefix=".introspect-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o600)
            json.dump(document, out, indent=2, ensure_ascii=False)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _identity(server: ServerEntry) -> str:
    return json.dumps([server.command, server.args, sorted(server.env.items())])


def introspect_all(inventory: Inventory, home: Path, options: IntrospectOptions) -> list[Introspection]:
    """Introspect every selected server, one at a time; identical entries in several clients
    are started once. Writes the cache files. Never raises for one server's failure."""
    results: list[Introspection] = []
    done: dict[str, Introspection] = {}
    for server in selected(inventory, options.servers):
        key = _identity(server)
        if key in done:
            first = done[key]  # as listed: a failed cache write of the first entry is its own
            result = Introspection(server, first.status, first.reason, first.tools, None, 0.0, first.pages,
                                   first.protocol_version, [f"same entry as {first.server.label}; started once"])
        else:
            result = asyncio.run(introspect_one(server, home, options))
            done[key] = replace(result)
        if result.ok:
            path = cache_path(home, server)
            try:
                write_cache(path, server, inventory.display(server.file.path), result)
                result.cache = path
            except (OSError, IntrospectError) as exc:
                result.status, result.reason = "failed", f"tool list not written: {exc}"
        results.append(result)
    return results


async def introspect_one(server: ServerEntry, home: Path, options: IntrospectOptions) -> Introspection:
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="mcpwarden-introspect-"))
    try:
        policy = build_policy(server, home, work)
        result = await _run(server, policy, work, options)
        result.notes[:0] = policy.notes
    except IntrospectError as exc:
        result = Introspection(server, exc.status, str(exc))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result.seconds = round(time.monotonic() - started, 3)
    return result


async def _run(server: ServerEntry, policy: IntrospectPolicy, work: Path, options: IntrospectOptions) -> Introspection:
    policy_file = work / "policy.yaml"
    fd = os.open(policy_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        yaml.safe_dump(policy.document, out, sort_keys=False)
    env = {**os.environ, **policy.secret_environ, "MCPWARDEN_STATE_DIR": str(work / "state")}
    argv = [sys.executable, "-m", "mcpwarden", "run", "--policy", str(policy_file), "--server", policy.name,
            "--log-level", "error"]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=env, start_new_session=True, limit=MAX_MESSAGE_BYTES,
    )
    stderr: collections.deque[str] = collections.deque(maxlen=STDERR_KEEP)
    drain = asyncio.create_task(_drain(proc.stderr, stderr))
    hidden = hidden_values(policy)
    session = _Session(proc, options, hidden)
    try:
        try:
            await asyncio.wait_for(session.list_tools(), options.timeout)
        except TimeoutError:
            raise IntrospectError(f"no complete tool list within {options.timeout:g} s", "timeout") from None
        except _Closed:
            await _stop(proc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(drain), KILL_GRACE)
            raise IntrospectError(_exit_reason(proc.returncode, stderr, hidden),
                                 _exit_status(proc.returncode)) from None
    finally:
        await _stop(proc)
        drain.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await drain
    return Introspection(server, "ok", tools=session.tools, pages=session.pages,
                         protocol_version=session.protocol_version)


class _Closed(Exception):
    """The gateway closed stdout before answering."""


class _ErrorAnswer(IntrospectError):
    """A request was answered with a JSON-RPC error; the text is the code and a short message."""

    def __init__(self, method: str, error: object, hidden: tuple[str, ...]):
        body = error if isinstance(error, dict) else {}
        self.code = body.get("code")
        self.brief = f"error {self.code}: {_printable(hide(str(body.get('message', '')), hidden)[:200])}"
        data = body.get("data")
        supported = data.get("supported") if isinstance(data, dict) else None
        self.supported: list[Any] = supported if isinstance(supported, list) else []
        super().__init__(f"{method} failed: {self.brief}")


class _Session:
    """Raw JSON-RPC client of one gateway child: handshake, then tools/list page by page."""

    def __init__(self, proc: asyncio.subprocess.Process, options: IntrospectOptions, hidden: tuple[str, ...]):
        self.proc = proc
        self.options = options
        self.hidden = hidden
        self.next_id = 0
        self.received = 0
        self.pages = 0
        self.tools: list[dict[str, Any]] = []
        self.protocol_version: str | None = None
        self.stateless = False

    async def list_tools(self) -> None:
        try:
            result = await self.request("initialize", {
                "protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": CLIENT_INFO,
            })
        except _ErrorAnswer as refused:
            # Perhaps a server of the stateless era only: no initialize, server/discover instead.
            await self._discover(refused)
        else:
            version = result.get("protocolVersion")
            self.protocol_version = version if isinstance(version, str) else None
            await self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        cursor: str | None = None
        while True:
            if self.pages >= self.options.max_pages:
                raise IntrospectError(f"more than {self.options.max_pages} pages of tools; stopped")
            params: dict[str, Any] = {"cursor": cursor} if cursor else {}
            page = await self.request("tools/list", params)
            self.pages += 1
            tools = page.get("tools")
            if not isinstance(tools, list):
                raise IntrospectError("tools/list answer has no tools array")
            self.tools += [t for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)]
            if len(self.tools) > MAX_TOOLS:
                raise IntrospectError(f"more than {MAX_TOOLS} tools; stopped")
            cursor = page.get("nextCursor")
            if not isinstance(cursor, str) or not cursor:
                return

    async def _discover(self, initialize_refused: _ErrorAnswer) -> None:
        self.stateless = True
        try:
            found = await self.request("server/discover", {})
        except _ErrorAnswer as refused:
            if refused.code == UNSUPPORTED_PROTOCOL_VERSION:
                raise IntrospectError(f"{refused} (the server supports {_versions(refused.supported, self.hidden)}); "
                                      f"mcpwarden audit speaks {PROTOCOL_VERSION} and {STATELESS_VERSION}") from None
            raise IntrospectError(f"neither initialize ({initialize_refused.brief}) nor server/discover "
                                  f"({refused.brief}) was accepted") from None
        versions = found.get("supportedVersions")
        if isinstance(versions, list) and versions and STATELESS_VERSION not in versions:
            raise IntrospectError(f"server/discover offers only {_versions(versions, self.hidden)}; "
                                  f"mcpwarden audit speaks {PROTOCOL_VERSION} and {STATELESS_VERSION}")
        self.protocol_version = STATELESS_VERSION

    async def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
            await self.proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise _Closed from exc

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        """The result object of METHOD; an error answer raises _ErrorAnswer."""
        self.next_id += 1
        request_id = self.next_id
        if self.stateless:
            params = {**params, "_meta": STATELESS_META}
        await self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        while True:
            message = await self.read()
            if "method" in message:
                await self._answer_server(message)
                continue
            if message.get("id") != request_id:
                continue
            if "error" in message:
                raise _ErrorAnswer(method, message["error"], self.hidden)
            result = message.get("result")
            if not isinstance(result, dict):
                raise IntrospectError(f"{method} answer has no result object")
            return result

    async def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        try:
            line = await self.proc.stdout.readline()
        except (ValueError, asyncio.LimitOverrunError):
            raise IntrospectError(f"a message larger than {MAX_MESSAGE_BYTES} bytes; stopped") from None
        if not line:
            raise _Closed
        self.received += len(line)
        if self.received > self.options.max_bytes:
            raise IntrospectError(f"more than {self.options.max_bytes} bytes received; stopped")
        try:
            message = json.loads(line)
        except ValueError:
            raise IntrospectError("the server sent a line that is not JSON") from None
        if not isinstance(message, dict):
            raise IntrospectError("the server sent a JSON value that is not a message object")
        return message

    async def _answer_server(self, message: dict[str, Any]) -> None:
        """A server->client request (ping, roots/list, sampling...): answer so the server goes on."""
        if "id" not in message:
            return
        if message.get("method") == "ping":
            await self.send({"jsonrpc": "2.0", "id": message["id"], "result": {}})
        elif message.get("method") == "roots/list":
            await self.send({"jsonrpc": "2.0", "id": message["id"], "result": {"roots": []}})
        else:
            await self.send({"jsonrpc": "2.0", "id": message["id"],
                             "error": {"code": -32601, "message": "not supported by mcpwarden audit"}})


def _versions(versions: list[Any], hidden: tuple[str, ...]) -> str:
    """A short, printable list of the protocol versions a server names."""
    return ", ".join(_NAME.sub("?", hide(str(v), hidden))[:20] for v in versions[:5]) or "no version it names"


def _printable(text: str) -> str:
    """Server text for a terminal: control characters (escape sequences) become '?'."""
    return "".join(c if c.isprintable() else "?" for c in text)


def hidden_values(policy: IntrospectPolicy) -> tuple[str, ...]:
    """The values to hide from reasons, longest first (so a value inside another goes too)."""
    values = {v for v in policy.secret_environ.values() if len(v) >= MIN_HIDDEN_CHARS}
    return tuple(sorted(values, key=len, reverse=True))


def hide(text: str, hidden: tuple[str, ...]) -> str:
    """TEXT with each hidden value replaced; before any cut, so no prefix of one is left."""
    for value in hidden:
        text = text.replace(value, "[REDACTED]")
    return text


async def _drain(stream: asyncio.StreamReader | None, keep: collections.deque[str]) -> None:
    if stream is None:
        return
    while True:
        try:
            line = await stream.readline()
        except (ValueError, asyncio.LimitOverrunError):
            continue
        if not line:
            return
        keep.append(line[:2000].decode("utf-8", errors="replace").rstrip())


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """Close stdin (the gateway then stops its server), then TERM and KILL the process group."""
    if proc.returncode is None and proc.stdin is not None:
        with contextlib.suppress(Exception):
            proc.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), SHUTDOWN_GRACE)
    for sig, grace in ((signal.SIGTERM, KILL_GRACE), (signal.SIGKILL, KILL_GRACE)):
        if proc.returncode is not None:
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), grace)
    # Whatever else is left in the group (the gateway's children) goes too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _exit_status(code: int | None) -> Status:
    return "refused" if code in (5, 6) else "failed"


def _exit_reason(code: int | None, stderr: collections.deque[str], hidden: tuple[str, ...] = ()) -> str:
    """Why the gateway stopped: its exit code and its own last error line. The server's own
    stderr is not shown (it may print anything, secrets included); as the server shares that
    stream and could print a line that looks like the gateway's, its values are hidden too."""
    what = EXIT_REASONS.get(code or 0, f"exited with code {code}" if code else "closed its output")
    own = [line for line in stderr if line.startswith("mcpwarden:")]
    detail = hide(own[-1].removeprefix("mcpwarden:").strip(), hidden) if own else ""
    reason = f"{what}: {detail}" if detail else f"{what} before listing its tools"
    return reason[:REASON_CHARS]
