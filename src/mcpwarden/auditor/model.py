"""Plain data shared by discovery, checks and reporters."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Severity = Literal["critical", "high", "medium", "low", "info"]
SEVERITY_ORDER: dict[str, int] = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0}
Transport = Literal["stdio", "http", "sse"]
KeyPath = tuple[str | int, ...]


def dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass
class ConfigFile:
    """One file a client reads. ``data`` is None when the file could not be parsed (``error`` says why)."""

    client: str
    scope: str
    path: Path
    kind: str  # json | jsonc | toml | yaml | markdown | text
    text: str | None = None
    data: Any = None
    error: str | None = None
    project: Path | None = None
    _lines: dict[KeyPath, int] | None = field(default=None, repr=False)
    _index: Any = field(default=None, repr=False)

    def json_index(self) -> Any:
        from mcpwarden.auditor.jsonc import JsonIndex

        if self._index is None:
            self._index = JsonIndex(self.text or "")
        return self._index

    def _json_line(self, key: KeyPath) -> int:
        if self._lines is None:
            self._lines = {}
        while key:
            if key not in self._lines:
                found = self.json_index().find(key)
                self._lines[key] = found[0] if found else 0
            if self._lines[key]:
                return self._lines[key]
            key = key[:-1]
        return 1

    def line_of(self, key: KeyPath) -> int | None:
        """1-based line where ``key`` (or its nearest parent) is written."""
        if self.text is None:
            return None
        if self.kind == "json":
            return self._json_line(key)
        if self._lines is None:
            from mcpwarden.auditor.linemap import key_lines

            self._lines = key_lines(self.text, self.kind)
        while key:
            if key in self._lines:
                return self._lines[key]
            key = key[:-1]
        return 1


@dataclass
class ServerEntry:
    """One MCP server as a client configures it."""

    client: str
    scope: str
    name: str
    file: ConfigFile
    key: KeyPath
    raw: dict[str, Any]
    transport: Transport
    command: str | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    loads: bool = True
    why: str = "configured"
    wrapped: bool = False  # runs through `mcpwarden run`; command/args are then the inner server's
    arg_offset: int = 0  # index of the inner command's first argument in the raw args

    def arg_key(self, index: int) -> KeyPath:
        return (*self.key, "args", index + self.arg_offset)

    @property
    def label(self) -> str:
        return f"{self.client}:{self.scope}:{self.name}"


@dataclass
class Finding:
    check: str
    severity: Severity
    message: str
    client: str
    path: str
    line: int | None = None
    key: str = ""
    server: str | None = None
    scope: str = ""
    detail: str = ""  # what makes this finding distinct from others of the same check at the same key
    suppressed: bool = False
    file_path: str = ""  # the real path (``path`` is as shown, with ~); not part of the fingerprint

    @property
    def fingerprint(self) -> str:
        """Stable across runs and line moves: check, file, key and detail, never the line or a secret."""
        parts = "\x1f".join([self.check, self.client, self.scope, self.path, self.server or "", self.key, self.detail])
        return hashlib.sha256(parts.encode()).hexdigest()[:32]


@dataclass
class Inventory:
    """Everything discovery found."""

    files: list[ConfigFile] = field(default_factory=list)
    servers: list[ServerEntry] = field(default_factory=list)
    home: Path = Path("~")
    notes: list[str] = field(default_factory=list)

    def display(self, path: Path | str) -> str:
        """A path as reports show it: under the home directory it starts with ``~``."""
        text = str(path)
        home = str(self.home)
        if home not in ("", "/") and (text == home or text.startswith(home.rstrip("/") + "/")):
            return "~" + text[len(home.rstrip("/")) :]
        return text
