"""Helpers for end-to-end tests of `mcpwarden run`: policies in tmp_path, a raw JSON-RPC
driver over the gateway's pipes, an SDK client through the gateway, and bounded process
checks. Every wait here has a time limit; only processes these helpers start are killed."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import psutil
import pytest
import yaml
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FIXTURE_SERVER = str(FIXTURES / "fixture_server.py")
BAD_SERVER = str(FIXTURES / "bad_server.py")

PYTHON = sys.executable
FAST_GATEWAY = {"request_timeout": 20, "shutdown_grace": 0.5}
"""request_timeout is generous: the machine may be loaded (the SDK fixture needs ~0.5 s CPU to start)."""
FAST_RESTART = {"initial_delay": 0.05, "max_delay": 0.2, "max_restarts": 5}
HANDSHAKE_VERSION = "2025-11-25"
MODERN_VERSION = "2026-07-28"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def fixture_module(name: str) -> ModuleType:
    """Import tests/fixtures/NAME.py by path (the fixtures folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"mcpwarden_test_fixture_{name}", FIXTURES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fixture_command(*extra: str) -> list[str]:
    return [PYTHON, FIXTURE_SERVER, *extra]


def bad_command(*extra: str) -> list[str]:
    return [PYTHON, BAD_SERVER, *extra]


def write_policy(
    tmp_path: Path,
    *,
    server: str = "fx",
    command: list[str] | None = None,
    tools: dict[str, Any] | None = None,
    mode: str | None = None,
    server_mode: str | None = None,
    gateway: dict[str, Any] | None = None,
    restart: dict[str, Any] | None = None,
) -> Path:
    """A policy file in tmp_path whose audit log is tmp_path/audit.jsonl, with fast timeouts."""
    command = command or fixture_command()
    entry: dict[str, Any] = {"command": command[0], "args": command[1:], "restart": restart or FAST_RESTART}
    if tools is not None:
        entry["tools"] = tools
    if server_mode is not None:
        entry["mode"] = server_mode
    policy: dict[str, Any] = {
        "version": 1,
        "audit": {"path": str(tmp_path / "audit.jsonl")},
        "gateway": {**FAST_GATEWAY, **(gateway or {})},
        "servers": {server: entry},
    }
    if mode is not None:
        policy["mode"] = mode
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path


def gateway_args(policy: Path | None = None, server: str | None = None, upstream: list[str] | None = None) -> list[str]:
    """Arguments after the python executable: ``-m mcpwarden run ...``."""
    args = ["-m", "mcpwarden", "run"]
    if policy is not None:
        args += ["--policy", str(policy)]
    if server is not None:
        args += ["--server", server]
    if upstream:
        args += ["--", *upstream]
    return args


def through_gateway(tmp_path: Path, **policy: Any) -> list[str]:
    """Gateway arguments for server "fx" of a policy written with ``write_policy(**policy)``."""
    return gateway_args(write_policy(tmp_path, **policy), server="fx")


def gateway_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env.pop("MCPWARDEN_AUDIT_KEY", None)
    return env


# ---------------------------------------------------------------- raw JSON-RPC driver


class RawGateway:
    """`mcpwarden run` driven over its pipes: send bytes, read lines, each with a timeout.

    stdout lines arrive through a reader thread into a queue; stderr is collected by another
    thread so the gateway can never block on a full pipe.
    """

    def __init__(self, args: list[str], env: dict[str, str]):
        self.proc = subprocess.Popen(
            [PYTHON, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        self.pid = self.proc.pid
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._stderr = bytearray()
        self._stderr_lock = threading.Lock()
        self._next_id = 1000
        self.notifications: list[dict[str, Any]] = []
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        while chunk := self.proc.stderr.read1(65536):
            with self._stderr_lock:
                self._stderr += chunk

    @property
    def stderr(self) -> str:
        with self._stderr_lock:
            return self._stderr.decode("utf-8", "replace")

    def wait_stderr(self, text: str, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.stderr:
                return True
            time.sleep(0.02)
        return text in self.stderr

    # -- sending

    def send(self, data: bytes, timeout: float = 30.0) -> None:
        """Write bytes to the gateway's stdin; fails if the gateway does not take them in time."""
        assert self.proc.stdin is not None
        stdin = self.proc.stdin
        failure: list[BaseException] = []

        def write() -> None:
            try:
                stdin.write(data)
                stdin.flush()
            except BaseException as exc:  # reported to the test thread below
                failure.append(exc)

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        writer.join(timeout)
        if writer.is_alive():
            raise AssertionError(f"the gateway did not read {len(data)} bytes from its stdin within {timeout}s")
        if failure:
            raise failure[0]

    def send_json(self, obj: Any) -> None:
        self.send(orjson.dumps(obj) + b"\n")

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # -- receiving

    def read_line(self, timeout: float = 10.0) -> bytes:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line from the gateway in {timeout}s; stderr:\n{self.stderr[-3000:]}") from None
        if line is None:
            self._lines.put(None)
            raise AssertionError(f"the gateway closed its stdout; stderr:\n{self.stderr[-3000:]}")
        return line

    def read_message(self, timeout: float = 10.0) -> dict[str, Any]:
        line = self.read_line(timeout)
        assert line.endswith(b"\n")
        obj = orjson.loads(line)
        assert isinstance(obj, dict), f"gateway wrote a non-object line: {line[:200]!r}"
        return obj

    def response_to(self, msg_id: Any, timeout: float = 10.0) -> dict[str, Any]:
        """The response with ``msg_id``; notifications on the way are kept in ``notifications``.

        Any other response, or a server request, fails the test: nothing else is expected."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no response to id {msg_id!r} within {timeout}s; stderr:\n{self.stderr[-3000:]}")
            msg = self.read_message(left)
            if "method" in msg and "id" not in msg:
                self.notifications.append(msg)
                continue
            assert msg.get("id") == msg_id, f"expected the response to {msg_id!r}, got {str(msg)[:300]}"
            return msg

    def no_line_within(self, seconds: float) -> bytes | None:
        """None if no line arrives within ``seconds`` (or stdout closed), else the line."""
        try:
            line = self._lines.get(timeout=seconds)
        except queue.Empty:
            return None
        if line is None:
            self._lines.put(None)
        return line

    def request(self, method: str, params: dict[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
        msg_id = self.new_id()
        obj: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            obj["params"] = params
        self.send_json(obj)
        return self.response_to(msg_id, timeout)

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        obj: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            obj["params"] = params
        self.send_json(obj)

    def initialize(self, version: str = HANDSHAKE_VERSION) -> dict[str, Any]:
        """The handshake-era initialize exchange; returns the initialize result."""
        response = self.request(
            "initialize",
            {
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": {"name": "raw-test-client", "version": "0"},
            },
            timeout=20.0,
        )
        assert "result" in response, f"initialize failed: {response}"
        self.notify("notifications/initialized")
        return response["result"]

    def call_tool(self, name: str, arguments: dict[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
        return self.request("tools/call", {"name": name, "arguments": arguments or {}}, timeout)

    def let_server_ask(self) -> dict[str, Any]:
        """Call bad_server's ``ask_twice``: the server sends two ``ping`` requests with the id
        ``dup-ping``, then answers the call. Returns the request that reached the client."""
        msg_id = self.new_id()
        self.send_json({"jsonrpc": "2.0", "id": msg_id, "method": "tools/call",
                        "params": {"name": "ask_twice", "arguments": {}}})
        asked = self.read_message()
        answer = self.read_message()
        assert asked["id"] == "dup-ping" and answer["id"] == msg_id, (asked, answer)
        assert answer["result"]["content"][0]["text"] == "asked"
        return asked

    # -- ending

    def close_stdin(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """SIGKILL the gateway (by its pid) if it still runs, and reap it."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.wait_exit(10)


@contextlib.contextmanager
def raw_gateway(args: list[str], env: dict[str, str]) -> Iterator[RawGateway]:
    """A RawGateway that is ended when the block exits, and any upstream it left behind killed."""
    gateway = RawGateway(args, env)
    try:
        yield gateway
    finally:
        seen = descendants(gateway.pid)
        gateway.close_stdin()
        if gateway.wait_exit(5) is None:
            gateway.kill()
        kill_leftovers(seen)


# ---------------------------------------------------------------- processes


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


Pid = int | psutil.Process
"""A psutil.Process remembers its start time, so a recycled pid is never mistaken for it: take one
as soon as a pid is known and use it for later checks and kills."""


def process(pid: Pid) -> psutil.Process | None:
    if isinstance(pid, psutil.Process):
        return pid
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


def is_alive(pid: Pid) -> bool:
    """True while the process runs; a zombie (dead, not yet reaped) counts as gone."""
    proc = process(pid)
    try:
        return proc is not None and proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_gone(pid: Pid, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.05)
    return not is_alive(pid)


def kill_leftovers(pids: Iterable[Pid]) -> None:
    """SIGKILL processes this test started that are still alive (psutil checks the identity)."""
    for pid in pids:
        proc = process(pid)
        if proc is not None and is_alive(proc):
            with contextlib.suppress(psutil.Error):
                proc.kill()


def upstream_pid_of(gateway_pid: int, timeout: float = 10.0) -> int:
    """The pid of the upstream child (the descendant running a fixture script)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in descendants(gateway_pid):
            with contextlib.suppress(psutil.Error):
                if any(str(FIXTURES) in part for part in proc.cmdline()):
                    return proc.pid
        time.sleep(0.05)
    raise AssertionError(f"no upstream child of gateway pid {gateway_pid} within {timeout}s")


# ---------------------------------------------------------------- SDK client through the gateway


@contextlib.asynccontextmanager
async def sdk_client(
    args: list[str],
    tmp_path: Path,
    *,
    mode: str = "legacy",
    **client_options: Any,
) -> AsyncIterator[Client]:
    """An official SDK client whose server is `python -m mcpwarden run ...`.

    The gateway's stderr goes to tmp_path/gateway-stderr.log (see ``gateway_stderr``)."""
    params = StdioServerParameters(command=PYTHON, args=args, env=gateway_env(tmp_path))
    with open(tmp_path / "gateway-stderr.log", "a", encoding="utf-8") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode=mode, **client_options) as client:
            yield client


def gateway_stderr(tmp_path: Path) -> str:
    path = tmp_path / "gateway-stderr.log"
    return path.read_text("utf-8", "replace") if path.exists() else ""


def text_content(response: dict[str, Any]) -> str:
    """The text of a raw tools/call response; fails if it is not a result."""
    assert "result" in response, f"expected a result, got {str(response)[:500]}"
    return "".join(block.get("text", "") for block in response["result"]["content"])


def text_of(result: Any) -> str:
    """The text of the first content block of a CallToolResult."""
    return "".join(getattr(block, "text", "") for block in result.content)


# ---------------------------------------------------------------- audit log


def audit_records(tmp_path: Path, timeout: float = 5.0, want: int = 1) -> list[dict[str, Any]]:
    """The records of tmp_path/audit.jsonl (waits until at least ``want`` are there); a torn
    last line is skipped (`mcpwarden log verify` judges those)."""
    path = tmp_path / "audit.jsonl"
    deadline = time.monotonic() + timeout
    records: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        if path.exists():
            records = []
            for line in path.read_bytes().splitlines():
                with contextlib.suppress(orjson.JSONDecodeError):  # a line torn by kill -9
                    records.append(orjson.loads(line))
            if len(records) >= want:
                return records
        time.sleep(0.05)
    return records


def tool_records(records: list[dict[str, Any]], tool: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get("tool") == tool]
