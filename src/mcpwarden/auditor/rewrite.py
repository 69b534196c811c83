"""Text edits that wrap one server entry and nothing else, so the rest of the file keeps its
bytes (comments, order, spacing) and ``unprotect`` can undo the edit exactly."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from mcpwarden.auditor import jsonc
from mcpwarden.auditor.model import KeyPath


class RewriteError(Exception):
    """The entry cannot be rewritten safely; the message says why."""


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    original: str
    replacement: str
    server: str


def _indent_unit(text: str) -> str:
    for line in text.splitlines():
        stripped = line.lstrip(" \t")
        if stripped and stripped != line:
            return line[: len(line) - len(stripped)]
    return "  "


def _line_indent(text: str, offset: int) -> str:
    line_start = text.rfind("\n", 0, offset) + 1
    prefix = text[line_start:offset]
    return prefix[: len(prefix) - len(prefix.lstrip(" \t"))]


def json_entry_edit(
    text: str, key: KeyPath, new_entry: dict[str, Any], server: str, index: jsonc.JsonIndex | None = None
) -> Edit:
    """Replace the JSON/JSONC object at ``key`` with ``new_entry``, in the file's own indentation."""
    found = (index or jsonc.JsonIndex(text)).find(key)  # fast path: strict JSON
    if found is not None:
        _line, start, end = found
    else:
        try:
            parsed = jsonc.parse(text, comments=True)
        except jsonc.JsoncError as exc:
            raise RewriteError(f"cannot parse: {exc}") from None
        if key not in parsed.spans:
            raise RewriteError(f"entry {'.'.join(map(str, key))} not found")
        start, end = parsed.spans[key]
    original = text[start:end]
    if "\n" not in original:
        replacement = json.dumps(new_entry, ensure_ascii=False)
    else:
        unit = _indent_unit(text)
        base = _line_indent(text, start)
        body = json.dumps(new_entry, indent=len(unit) if unit.strip(" ") == "" else unit, ensure_ascii=False)
        newline = "\r\n" if "\r\n" in original else "\n"
        replacement = body.replace("\n", newline + base)
    return Edit(start, end, original, replacement, server)


_HEADER = re.compile(r"^\s*\[")


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _array_end(lines: list[str], first: int) -> int:
    """Index of the line where the array starting on ``lines[first]`` closes."""
    depth = 0
    in_string: str | None = None
    for index in range(first, len(lines)):
        line = lines[index]
        i = line.index("=") + 1 if index == first else 0
        while i < len(line):
            ch = line[i]
            if in_string:
                if ch == "\\" and in_string == '"':
                    i += 2
                    continue
                if ch == in_string:
                    in_string = None
            elif ch in "\"'":
                in_string = ch
            elif ch == "#":
                break
            elif ch == "[":
                depth += 1
            elif ch == "]":
                depth -= 1
                if depth == 0:
                    return index
            i += 1
    raise RewriteError("unterminated args array")


def toml_entry_edit(text: str, table: tuple[str, ...], command: str, args: list[str], server: str) -> Edit:
    """Rewrite ``command`` and ``args`` inside the ``[mcp_servers.NAME]`` section."""
    from mcpwarden.auditor.linemap import toml_key_lines

    lines = text.splitlines(keepends=True)
    header_line = toml_key_lines(text).get(table)
    if header_line is None or not _HEADER.match(lines[header_line - 1]):
        raise RewriteError("the server is not written as its own [table] (inline tables are not rewritten)")
    first = header_line  # index of the first body line
    last = first
    while last < len(lines) and not _HEADER.match(lines[last]):
        last += 1
    body = lines[first:last]
    command_at = next((i for i, line in enumerate(body) if re.match(r"^\s*command\s*=", line)), None)
    args_at = next((i for i, line in enumerate(body) if re.match(r"^\s*args\s*=", line)), None)
    if command_at is None:
        raise RewriteError("no command = line")
    newline = "\r\n" if body[command_at].endswith("\r\n") else "\n"
    new_args = f"args = [{', '.join(_toml_string(a) for a in args)}]{newline}"
    new_body = list(body)
    if args_at is not None:
        end = _array_end(body, args_at)
        new_body[args_at : end + 1] = [new_args]
    else:
        new_body.insert(command_at + 1, new_args)
    new_body[command_at] = f"command = {_toml_string(command)}{newline}"
    start = sum(len(line) for line in lines[:first])
    end_offset = start + sum(len(line) for line in body)
    return Edit(start, end_offset, text[start:end_offset], "".join(new_body), server)


def apply(text: str, edits: list[Edit]) -> str:
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        if text[edit.start : edit.end] != edit.original:
            raise RewriteError("edits overlap")
        text = text[: edit.start] + edit.replacement + text[edit.end :]
    return text
