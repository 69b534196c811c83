"""A JSON / JSONC (comments, trailing commas) parser that remembers where every key and value
is written: lines for reports, byte spans for ``protect``. Depth-limited, so a hostile file
nested a million deep is an error, not a crash."""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field
from typing import Any

from mcpwarden.auditor.model import KeyPath

MAX_DEPTH = 200

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\n\ufeff]+)
  | (?P<lc>//[^\n]*)
  | (?P<bc>/\*.*?\*/)
  | (?P<str>"(?:[^"\\\x00-\x1f]|\\.)*")
  | (?P<punct>[{}\[\]:,])
  | (?P<lit>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null)
    """,
    re.VERBOSE | re.DOTALL,
)
_LITERALS = {"true": True, "false": False, "null": None}


class JsoncError(ValueError):
    def __init__(self, message: str, line: int):
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass
class Parsed:
    value: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)
    spans: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)  # value start/end offsets (characters)


class _Parser:
    def __init__(self, text: str, comments: bool):
        self.text = text
        self.comments = comments
        self.pos = 0
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.out = Parsed(None)
        self.tok: tuple[str, str, int] | None = None

    def line_at(self, offset: int) -> int:
        return bisect.bisect_left(self.newlines, offset) + 1

    def _advance(self) -> None:
        text = self.text
        while self.pos < len(text):
            m = _TOKEN.match(text, self.pos)
            if m is None:
                raise JsoncError(f"unexpected character {text[self.pos]!r}", self.line_at(self.pos))
            kind = m.lastgroup or ""
            start = self.pos
            self.pos = m.end()
            if kind == "ws":
                continue
            if kind in ("lc", "bc"):
                if not self.comments:
                    raise JsoncError("comments are not allowed in JSON", self.line_at(start))
                continue
            self.tok = (kind, m.group(), start)
            return
        if text.startswith("/*", self.pos):
            raise JsoncError("unterminated comment", self.line_at(self.pos))
        self.tok = ("eof", "", len(text))

    def parse(self) -> Parsed:
        self._advance()
        self.out.value = self._value((), 0)
        if self.tok and self.tok[0] != "eof":
            raise JsoncError("extra data after the document", self.line_at(self.tok[2]))
        return self.out

    def _string(self, raw: str, start: int) -> str:
        try:
            return json.loads(raw)
        except ValueError:  # a bad escape, e.g. a Windows path written "C:\Users"
            raise JsoncError("invalid escape in a string (write a backslash as \\\\)", self.line_at(start)) from None

    def _expect(self, char: str) -> None:
        assert self.tok is not None
        if self.tok[1] != char or self.tok[0] != "punct":
            raise JsoncError(f"expected {char!r}", self.line_at(self.tok[2]))
        self._advance()

    def _value(self, path: KeyPath, depth: int) -> Any:
        assert self.tok is not None
        kind, raw, start = self.tok
        if depth > MAX_DEPTH:
            raise JsoncError(f"nested more than {MAX_DEPTH} levels deep", self.line_at(start))
        self.out.lines.setdefault(path, self.line_at(start))
        if kind == "str":
            self._advance()
            self.out.spans[path] = (start, start + len(raw))
            return self._string(raw, start)
        if kind == "lit":
            self._advance()
            self.out.spans[path] = (start, start + len(raw))
            return _LITERALS[raw] if raw in _LITERALS else json.loads(raw)
        if kind == "punct" and raw == "{":
            value = self._object(path, depth)
        elif kind == "punct" and raw == "[":
            value = self._array(path, depth)
        elif kind == "eof":
            raise JsoncError("unexpected end of file", self.line_at(start))
        else:
            raise JsoncError(f"unexpected {raw!r}", self.line_at(start))
        self.out.spans[path] = (start, self._last_end)
        return value

    def _object(self, path: KeyPath, depth: int) -> dict[str, Any]:
        self._advance()
        result: dict[str, Any] = {}
        while True:
            assert self.tok is not None
            kind, raw, start = self.tok
            if kind == "punct" and raw == "}":
                self._last_end = start + 1
                self._advance()
                return result
            if kind != "str":
                raise JsoncError("expected a key in double quotes", self.line_at(start))
            key = self._string(raw, start)
            self.out.lines[(*path, key)] = self.line_at(start)
            self._advance()
            self._expect(":")
            result[key] = self._value((*path, key), depth + 1)
            assert self.tok is not None
            if self.tok[0] == "punct" and self.tok[1] == ",":
                self._advance()
                if not self.comments and self.tok[1] == "}":
                    raise JsoncError("trailing comma", self.line_at(self.tok[2]))
            elif not (self.tok[0] == "punct" and self.tok[1] == "}"):
                raise JsoncError("expected ',' or '}'", self.line_at(self.tok[2]))

    def _array(self, path: KeyPath, depth: int) -> list[Any]:
        self._advance()
        result: list[Any] = []
        while True:
            assert self.tok is not None
            kind, raw, start = self.tok
            if kind == "punct" and raw == "]":
                self._last_end = start + 1
                self._advance()
                return result
            result.append(self._value((*path, len(result)), depth + 1))
            assert self.tok is not None
            if self.tok[0] == "punct" and self.tok[1] == ",":
                self._advance()
                if not self.comments and self.tok[1] == "]":
                    raise JsoncError("trailing comma", self.line_at(self.tok[2]))
            elif not (self.tok[0] == "punct" and self.tok[1] == "]"):
                raise JsoncError("expected ',' or ']'", self.line_at(self.tok[2]))

    _last_end = 0


def parse(text: str, comments: bool = True) -> Parsed:
    """Parse JSON (``comments=False``) or JSONC. Raises JsoncError with the line."""
    return _Parser(text, comments).parse()


def loads(text: str, comments: bool) -> Any:
    """The value only; strict JSON goes through the C parser first, which is much faster."""
    if not comments:
        try:
            return json.loads(text)
        except RecursionError:
            raise JsoncError(f"nested more than {MAX_DEPTH} levels deep", 1) from None
        except json.JSONDecodeError as exc:
            try:  # our parser names the problem more plainly ("trailing comma", "comments are not allowed")
                parse(text, comments=False)
            except JsoncError as ours:
                raise ours from None
            raise JsoncError(exc.msg, exc.lineno) from None
    return parse(text, comments=True).value


_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def _skip(text: str, i: int) -> int:
    return _WS.match(text, i).end()  # type: ignore[union-attr]


class JsonIndex:
    """Where keys are in strict JSON text, found lazily and cached per object.

    Only the objects along the paths asked for are walked; every other value is skipped with
    the C decoder, so finding keys in a 30 MB ~/.claude.json stays well under a second. With
    duplicate keys the last one counts, as it does for ``json.loads``."""

    def __init__(self, text: str):
        self.text = text
        # container path -> {key or index: (anchor offset, value start, value end)}
        self._members: dict[KeyPath, dict[str | int, tuple[int, int, int]]] = {}
        self._root: tuple[int, int] | None = None

    def _value_end(self, i: int) -> int:
        return _DECODER.raw_decode(self.text, i)[1]

    def _scan(self, start: int) -> dict[str | int, tuple[int, int, int]]:
        from json.decoder import scanstring  # type: ignore[attr-defined]

        text = self.text
        members: dict[str | int, tuple[int, int, int]] = {}
        if text[start] == "{":
            i = _skip(text, start + 1)
            while text[i] != "}":
                if text[i] != '"':
                    raise ValueError("expected a key")
                key_at = i
                key, i = scanstring(text, i + 1)
                i = _skip(text, i)
                if text[i] != ":":
                    raise ValueError("expected ':'")
                i = _skip(text, i + 1)
                end = self._value_end(i)
                members[key] = (key_at, i, end)
                i = _skip(text, end)
                if text[i] == ",":
                    i = _skip(text, i + 1)
        elif text[start] == "[":
            i = _skip(text, start + 1)
            n = 0
            while text[i] != "]":
                end = self._value_end(i)
                members[n] = (i, i, end)
                n += 1
                i = _skip(text, end)
                if text[i] == ",":
                    i = _skip(text, i + 1)
        return members

    def find(self, path: KeyPath) -> tuple[int, int, int] | None:
        """(line of the key, value start, value end) of ``path``, or None."""
        try:
            if self._root is None:
                i = _skip(self.text, 1 if self.text.startswith("\ufeff") else 0)
                self._root = (i, self._value_end(i))
            anchor, start, end = self._root[0], self._root[0], self._root[1]
            for depth, part in enumerate(path):
                container = path[:depth]
                if container not in self._members:
                    self._members[container] = self._scan(start)
                member = self._members[container].get(part)
                if member is None:
                    return None
                anchor, start, end = member
        except (IndexError, ValueError, RecursionError):
            return None
        return self.text.count("\n", 0, anchor) + 1, start, end


def locate(text: str, path: KeyPath) -> tuple[int, int, int] | None:
    """One-off lookup; use a JsonIndex for many lookups in one text."""
    return JsonIndex(text).find(path)
