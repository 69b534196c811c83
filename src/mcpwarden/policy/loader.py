"""Reading a policy file: YAML with line numbers, validated by the schema, errors that name
file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mcpwarden.errors import PolicyError
from mcpwarden.policy.schema import Policy, PolicyProblem
from mcpwarden.sandbox.options import NETWORK_TAGS

MAX_POLICY_BYTES = 4 * 1024 * 1024
MAX_POLICY_VALUES = 100_000
"""Keys and items a policy may hold once YAML aliases are expanded (a policy is far smaller;
this stops "billion laughs" files, whose aliases expand exponentially)."""
MAX_POLICY_DEPTH = 64

Loc = tuple[str | int, ...]


class _LineMap:
    """Where each key and item of the YAML document starts (1-based lines)."""

    def __init__(self) -> None:
        self.lines: dict[Loc, int] = {}
        self.values = 0

    def line_of(self, loc: Loc) -> int | None:
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get(())


def _walk(node: yaml.Node, loc: Loc, lines: _LineMap, source: str) -> None:
    lines.lines.setdefault(loc, node.start_mark.line + 1)
    lines.values += 1
    if lines.values > MAX_POLICY_VALUES:
        raise PolicyError(
            f"{source}:{node.start_mark.line + 1}: {_dotted(loc)}: the policy expands to more than "
            f"{MAX_POLICY_VALUES} values (YAML aliases repeated too often)"
        )
    if len(loc) > MAX_POLICY_DEPTH:
        raise PolicyError(
            f"{source}:{node.start_mark.line + 1}: {_dotted(loc[:3])}...: nested deeper than {MAX_POLICY_DEPTH} "
            "levels (or a YAML alias that contains itself)"
        )
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            if key in seen:
                raise PolicyError(f"{source}:{key_node.start_mark.line + 1}: {_dotted((*loc, key))}: duplicate key")
            seen.add(key)
            lines.lines[(*loc, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*loc, key), lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*loc, i), lines, source)


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _branch_name(part: str | int, before: str | int | None) -> bool:
    """A part of a pydantic error location that names a validator or union branch, not a key
    (a ``network`` branch tag only right after ``network``: a server may be named like one)."""
    if not isinstance(part, str):
        return False
    return part.startswith(("function-", "literal[")) or (part in NETWORK_TAGS and before == "network")


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Validate policy text. Raises PolicyError naming source, line and field."""
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            lines = _LineMap()
            if node is not None:
                _walk(node, (), lines, source)
            data: Any = loader.construct_document(node) if node is not None else {}
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        raise PolicyError(f"{where}: not valid YAML: {exc.problem or exc}") from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow: no mark, only a position
        line = text[: exc.position].count("\n") + 1
        code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        raise PolicyError(f"{source}:{line}: not valid YAML: character U+{code:04X} is not allowed") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}") from None
    except RecursionError:
        raise PolicyError(f"{source}: not a usable policy: nested too deeply") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError(f"{source}:1: the policy must be a mapping of keys (version, servers, ...)")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for i, p in enumerate(err["loc"]) if not _branch_name(p, err["loc"][i - 1] if i else None))
            msg = err["msg"]
            problem = (err.get("ctx") or {}).get("error")
            if isinstance(problem, PolicyProblem):
                loc, msg = (*loc, *problem.loc), str(problem)
            line = lines.line_of(loc)
            where = f"{source}:{line}" if line else source
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check the spelling; see docs/policy.md)"
            problems.append(f"{where}: {_dotted(loc)}: {msg}")
        raise PolicyError("\n".join(problems)) from None


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file."""
    path = Path(path)
    try:
        with path.open("rb") as handle:  # read at most the limit, whatever it is (a pipe, /dev/zero)
            raw = handle.read(MAX_POLICY_BYTES + 1)
        if len(raw) > MAX_POLICY_BYTES:
            raise PolicyError(f"{path}: policy file is larger than the limit of {MAX_POLICY_BYTES} bytes")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read policy file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PolicyError(f"{path}:{line}: policy file is not UTF-8 (byte {exc.start})") from None
    return parse_policy(text, str(path))


def default_policy() -> Policy:
    """The built-in policy used without --policy: audit and detection on, every tool allowed."""
    return Policy()
