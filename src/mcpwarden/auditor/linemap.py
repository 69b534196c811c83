"""Line numbers of keys in JSON, JSONC, TOML and YAML text, for reports and SARIF regions.

TOML and YAML parsers give values without positions, so their keys are found in the text:
TOML by its table headers and ``key =`` lines, YAML by composing nodes (which carry marks).
"""

from __future__ import annotations

import re

import yaml

from mcpwarden.auditor import jsonc
from mcpwarden.auditor.model import KeyPath

_TOML_HEADER = re.compile(r"^\s*\[\[?\s*(?P<keys>[^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_TOML_ASSIGN = re.compile(
    r"^\s*(?P<keys>(?:[A-Za-z0-9_-]+|\"(?:[^\"\\]|\\.)*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"(?:[^\"\\]|\\.)*\"|'[^']*'))*)\s*="
)
_TOML_KEY_PART = re.compile(r"\s*(?:([A-Za-z0-9_-]+)|\"((?:[^\"\\]|\\.)*)\"|'([^']*)')\s*(?:\.|$)")


def _toml_keys(text: str) -> tuple[str, ...]:
    parts: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TOML_KEY_PART.match(text, pos)
        if m is None or m.end() == pos:
            break
        bare, dquoted, squoted = m.groups()
        parts.append(bare if bare is not None else (dquoted if dquoted is not None else squoted or ""))
        pos = m.end()
    return tuple(parts)


def toml_key_lines(text: str) -> dict[KeyPath, int]:
    lines: dict[KeyPath, int] = {}
    table: tuple[str, ...] = ()
    in_multiline: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if line.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        header = _TOML_HEADER.match(line)
        if header and not line.lstrip().startswith("#"):
            table = _toml_keys(header.group("keys"))
            lines.setdefault(table, number)
            continue
        assign = _TOML_ASSIGN.match(line)
        if assign:
            key = (*table, *_toml_keys(assign.group("keys")))
            lines.setdefault(key, number)
            rest = line[assign.end() :]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    in_multiline = quote
    return lines


MAX_YAML_NODES = 100_000


def _yaml_walk(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], offset: int, depth: int = 0) -> None:
    # Aliases share nodes, so a "billion laughs" document is small but its walk is not: bound both.
    if depth > jsonc.MAX_DEPTH or len(lines) > MAX_YAML_NODES:
        return
    lines.setdefault(path, node.start_mark.line + 1 + offset)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            lines[(*path, key)] = key_node.start_mark.line + 1 + offset
            _yaml_walk(value_node, (*path, key), lines, offset, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _yaml_walk(item, (*path, i), lines, offset, depth + 1)


def yaml_key_lines(text: str, offset: int = 0) -> dict[KeyPath, int]:
    lines: dict[KeyPath, int] = {}
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines
    if node is not None:
        _yaml_walk(node, (), lines, offset)
    return lines


def key_lines(text: str, kind: str) -> dict[KeyPath, int]:
    """Every key path's line; an unparsable text gives what could be found (possibly nothing)."""
    if kind in ("json", "jsonc"):
        try:
            return jsonc.parse(text, comments=True).lines
        except (jsonc.JsoncError, RecursionError):
            return {}
    if kind == "toml":
        return toml_key_lines(text)
    if kind == "yaml":
        return yaml_key_lines(text)
    if kind == "markdown":
        from mcpwarden.auditor.frontmatter import split_frontmatter

        head, _body, start_line = split_frontmatter(text)
        return yaml_key_lines(head, offset=start_line - 1) if head is not None else {}
    return {}
