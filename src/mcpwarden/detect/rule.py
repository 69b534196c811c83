"""A detection rule: plain data read from a TOML table, checked once at load.

A rule that fails a check raises DetectError naming its source file and id, so a bad rule
never loads silently. The regex dialect is the common subset of Python ``re``, RE2 and
Hyperscan: no backreferences, no lookaround, no possessive or atomic groups, ASCII only.
Nested unbounded repetition (``(a+)+``) is refused because ``re`` can backtrack on it
catastrophically when RE2 is not installed.
"""

from __future__ import annotations

import functools
import re
import re._constants as sre_constants
import re._parser as sre_parse
from dataclasses import dataclass, field
from typing import Any

from mcpwarden.detect import validators
from mcpwarden.errors import DetectError

SEVERITIES = ("critical", "high", "medium", "low")
RULE_TIERS = ("pattern", "generic", "pii")
TIERS = ("honeytoken", "validated", "pattern", "pii", "generic")
"""Every tier a finding can carry, most certain first."""

MAX_MATCH_WIDTH = 8192
"""Longest match a rule may produce (bytes); unbounded regexes are confirmed within this."""

_ID = re.compile(r"[a-z0-9]+(?:[-.][a-z0-9]+)*")
_RULE_KEYS = frozenset(
    {
        "id",
        "description",
        "family",
        "severity",
        "keywords",
        "regex",
        "secret_group",
        "validator",
        "entropy",
        "tier",
        "allowlist",
        "examples",
        "tags",
        "probe",
    }
)
_ALLOWLIST_KEYS = frozenset({"regexes", "stopwords"})
_EXAMPLE_KEYS = frozenset({"match", "no_match"})
_FORBIDDEN_NODES = {
    sre_constants.GROUPREF: "backreferences",
    sre_constants.GROUPREF_EXISTS: "conditional backreferences",
    sre_constants.ASSERT: "lookahead/lookbehind",
    sre_constants.ASSERT_NOT: "negative lookahead/lookbehind",
    sre_constants.POSSESSIVE_REPEAT: "possessive quantifiers",
    sre_constants.ATOMIC_GROUP: "atomic groups",
}
_REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT)


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule, as written in its file. See docs/detection.md for the format."""

    id: str
    description: str
    family: str
    severity: str
    keywords: tuple[str, ...]
    regex: str
    secret_group: int
    validator: str | None = None
    entropy: float | None = None
    tier: str = "pattern"
    allow_regexes: tuple[str, ...] = ()
    stopwords: tuple[str, ...] = ()
    examples_match: tuple[str, ...] = ()
    examples_no_match: tuple[str, ...] = ()
    source: str = "<rules>"
    max_width: int = field(default=MAX_MATCH_WIDTH, compare=False)
    min_width: int = field(default=0, compare=False)
    """Shortest match the regex can make."""
    probe: str | None = None
    """Optional regex that every match of ``regex`` contains; the gate runs it instead of
    ``regex`` to tell where matches can end (useful when ``regex`` is costly for Vectorscan)."""
    keyword_inside: bool = field(default=False, compare=False)
    """Every match contains one of the keywords, so windows need no reach beyond the match."""

    def __repr__(self) -> str:
        return f"<Rule {self.id} family={self.family} tier={self.tier}>"


def _fail(source: str, rule_id: str, why: str) -> DetectError:
    return DetectError(f"{source}: rule {rule_id!r}: {why}")


def dialect_problem(pattern: str) -> str | None:
    """Why ``pattern`` is outside the supported regex dialect, or None if it is inside."""
    if not pattern.isascii():
        return "regex must be ASCII (use \\xNN escapes for other bytes)"
    try:
        parsed = sre_parse.parse(pattern)
    except re.error as exc:
        return f"regex does not compile: {exc}"
    return _walk_problem(parsed.data, in_unbounded=False)


def _walk_problem(items: list[Any], in_unbounded: bool) -> str | None:
    for op, arg in items:
        if op in _FORBIDDEN_NODES:
            return f"regex uses {_FORBIDDEN_NODES[op]}, which RE2 and Hyperscan do not support"
        if op in _REPEATS:
            _lo, hi, body = arg
            unbounded = hi == sre_constants.MAXREPEAT
            if unbounded and in_unbounded and _can_repeat_nonempty(body):
                return "regex nests unbounded repetition (like (a+)+), which can backtrack catastrophically"
            found = _walk_problem(list(body), in_unbounded or unbounded)
            if found:
                return found
        elif op is sre_constants.SUBPATTERN:
            found = _walk_problem(list(arg[-1]), in_unbounded)
            if found:
                return found
        elif op is sre_constants.BRANCH:
            for branch in arg[1]:
                found = _walk_problem(list(branch), in_unbounded)
                if found:
                    return found
    return None


def _can_repeat_nonempty(body: Any) -> bool:
    return body.getwidth()[1] > 0


def max_width(pattern: str) -> int:
    """Upper bound of a match's length in bytes, capped at MAX_MATCH_WIDTH."""
    hi = sre_parse.parse(pattern).getwidth()[1]
    return min(int(hi), MAX_MATCH_WIDTH)


def keyword_inside(pattern: str, keywords: tuple[str, ...]) -> bool:
    """True when every match of ``pattern`` contains one of ``keywords`` (compared
    case-insensitively). Conservative: False when unsure."""
    lowered = tuple(k.lower() for k in keywords)
    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return False
    return _must_contain(list(parsed.data), lowered)


_MAX_EXPANSION = 256


def _literal_set(op: Any, arg: Any) -> set[str] | None:
    """The strings one regex item can match when they are few literals, else None."""
    if op is sre_constants.LITERAL:
        return {chr(arg)}
    if op is sre_constants.AT:
        return {""}
    if op is sre_constants.IN and len(arg) <= 4 and all(o is sre_constants.LITERAL for o, _ in arg):
        return {chr(a) for _, a in arg}
    if op is sre_constants.SUBPATTERN:
        return _sequence_set(list(arg[-1]))
    if op is sre_constants.BRANCH:
        out: set[str] = set()
        for branch in arg[1]:
            part = _sequence_set(list(branch))
            if part is None:
                return None
            out |= part
        return out if len(out) <= _MAX_EXPANSION else None
    return None


def _sequence_set(items: list[Any]) -> set[str] | None:
    current = {""}
    for op, arg in items:
        part = _literal_set(op, arg)
        if part is None or len(current) * len(part) > _MAX_EXPANSION:
            return None
        current = {a + b for a in current for b in part}
    return current


def _must_contain(items: list[Any], keywords: tuple[str, ...]) -> bool:
    current = {""}

    def flush() -> bool:
        found = all(any(k in text.lower() for k in keywords) for text in current)
        current.clear()
        current.add("")
        return found

    for op, arg in items:
        part = _literal_set(op, arg)
        if part is not None and len(current) * len(part) <= _MAX_EXPANSION:
            expanded = {a + b for a in current for b in part}
            current.clear()
            current.update(expanded)
            continue
        if flush():
            return True
        if part is not None:
            current.clear()
            current.update(part)
            continue
        if op is sre_constants.SUBPATTERN:
            if _must_contain(list(arg[-1]), keywords):
                return True
        elif op is sre_constants.BRANCH:
            if all(_must_contain(list(branch), keywords) for branch in arg[1]):
                return True
        elif op in _REPEATS and arg[0] >= 1 and _must_contain(list(arg[2]), keywords):
            return True
    return flush()


def leading_width(pattern: str) -> int:
    """Longest stretch a match can run before its first literal character (capped): how much
    a multi-pattern engine must track before it can rule a start position out."""
    try:
        items = list(sre_parse.parse(pattern).data)
    except re.error:
        return MAX_MATCH_WIDTH
    width, _ = _lead(items)
    return min(width, MAX_MATCH_WIDTH)


def _lead(items: list[Any]) -> tuple[int, bool]:
    """(width before the first literal, whether a literal was reached)."""
    total = 0
    for op, arg in items:
        if op is sre_constants.LITERAL:
            return total, True
        if op is sre_constants.SUBPATTERN:
            inner, reached = _lead(list(arg[-1]))
            total += inner
            if reached:
                return total, True
            continue
        if op is sre_constants.AT:
            continue
        if op is sre_constants.BRANCH:
            leads = [_lead(list(branch)) for branch in arg[1]]
            if all(reached for _, reached in leads):
                return total + max(width for width, _ in leads), True
        total += int(min(sre_parse.SubPattern(sre_parse.State(), [(op, arg)]).getwidth()[1], MAX_MATCH_WIDTH))
    return total, False


def _str_list(value: Any, source: str, rule_id: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(source, rule_id, f"{key} must be a list of strings")
    return tuple(value)


def rule_from_table(table: Any, source: str, need_examples: bool = True) -> Rule:
    """Build and check a Rule from one ``[[rule]]`` table. Raises DetectError naming the id."""
    if not isinstance(table, dict):
        raise DetectError(f"{source}: each [[rule]] must be a table")
    rule_id = table.get("id")
    if not isinstance(rule_id, str) or not _ID.fullmatch(rule_id):
        raise DetectError(f"{source}: rule id {rule_id!r} must be kebab-case (a-z, 0-9, '-')")
    unknown = sorted(set(table) - _RULE_KEYS)
    if unknown:
        raise _fail(source, rule_id, f"unknown key(s) {', '.join(unknown)}")
    description = table.get("description", "")
    family = table.get("family")
    severity = table.get("severity")
    if not isinstance(description, str) or not description:
        raise _fail(source, rule_id, "description must be a non-empty string")
    if not isinstance(family, str) or not _ID.fullmatch(family):
        raise _fail(source, rule_id, "family must be a kebab-case string such as 'cloud'")
    if severity not in SEVERITIES:
        raise _fail(source, rule_id, f"severity must be one of {', '.join(SEVERITIES)}")
    keywords = _str_list(table.get("keywords"), source, rule_id, "keywords")
    if not keywords or any(not k or k != k.lower() for k in keywords):
        raise _fail(source, rule_id, "keywords must be a non-empty list of non-empty lower-case literals")
    regex = table.get("regex")
    if not isinstance(regex, str) or not regex:
        raise _fail(source, rule_id, "regex must be a non-empty string")
    problem = dialect_problem(regex)
    if problem:
        raise _fail(source, rule_id, problem)
    _check_re2(regex, source, rule_id)
    probe = table.get("probe")
    if probe is not None:
        if not isinstance(probe, str) or not probe:
            raise _fail(source, rule_id, "probe must be a non-empty regex string")
        problem = dialect_problem(probe)
        if problem:
            raise _fail(source, rule_id, f"probe: {problem}")
    groups = re.compile(regex).groups
    secret_group = table.get("secret_group", 1 if groups else 0)
    if not isinstance(secret_group, int) or isinstance(secret_group, bool) or not 0 <= secret_group <= groups:
        raise _fail(source, rule_id, f"secret_group must be an integer from 0 to {groups} (the regex's groups)")
    validator = table.get("validator")
    if validator is not None and validator not in validators.VALIDATORS:
        raise _fail(
            source, rule_id, f"unknown validator {validator!r}; known: {', '.join(sorted(validators.VALIDATORS))}"
        )
    entropy = table.get("entropy")
    if entropy is not None and (
        isinstance(entropy, bool) or not isinstance(entropy, int | float) or not 0 <= entropy <= 8
    ):
        raise _fail(source, rule_id, "entropy must be a number of bits per character from 0 to 8")
    tier = table.get("tier", "pii" if family == "pii" else "pattern")
    if tier not in RULE_TIERS:
        raise _fail(source, rule_id, f"tier must be one of {', '.join(RULE_TIERS)}")
    allow_regexes, stopwords = _allowlist(table.get("allowlist"), source, rule_id)
    match, no_match = _examples(table.get("examples"), source, rule_id, need_examples)
    return Rule(
        id=rule_id,
        description=description,
        family=family,
        severity=severity,
        keywords=keywords,
        regex=regex,
        secret_group=secret_group,
        validator=validator,
        entropy=float(entropy) if entropy is not None else None,
        tier=tier,
        allow_regexes=allow_regexes,
        stopwords=stopwords,
        examples_match=match,
        examples_no_match=no_match,
        source=source,
        probe=probe,
        max_width=max_width(regex),
        min_width=int(sre_parse.parse(regex).getwidth()[0]),
        keyword_inside=keyword_inside(regex, keywords),
    )


def _check_re2(regex: str, source: str, rule_id: str) -> None:
    try:
        compile_re2(regex)
    except ImportError:
        return
    except Exception as exc:  # re2 raises its own error type
        raise _fail(source, rule_id, f"regex is not accepted by RE2: {exc}") from None


@functools.lru_cache(maxsize=4096)
def compile_re2(regex: str) -> Any:
    """The RE2 form of ``regex`` (bytes mode), compiled once per process. Raises ImportError
    without google-re2, and RE2's error for a regex it refuses."""
    import re2  # type: ignore[import-not-found]

    options = re2.Options()
    options.max_mem = 64 << 20
    options.log_errors = False
    return re2.compile(regex.encode(), options)


def _allowlist(value: Any, source: str, rule_id: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if value is None:
        return (), ()
    if not isinstance(value, dict):
        raise _fail(source, rule_id, "allowlist must be a table")
    unknown = sorted(set(value) - _ALLOWLIST_KEYS)
    if unknown:
        raise _fail(source, rule_id, f"unknown allowlist key(s) {', '.join(unknown)}")
    regexes = _str_list(value.get("regexes", []), source, rule_id, "allowlist.regexes")
    stopwords = _str_list(value.get("stopwords", []), source, rule_id, "allowlist.stopwords")
    if not regexes and not stopwords:
        raise _fail(source, rule_id, "allowlist is empty; remove it or add regexes/stopwords")
    for pattern in regexes:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise _fail(source, rule_id, f"allowlist regex {pattern!r} does not compile: {exc}") from None
    return regexes, tuple(s.lower() for s in stopwords)


def _examples(value: Any, source: str, rule_id: str, needed: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if value is None:
        if needed:
            raise _fail(source, rule_id, "[rule.examples] with at least one 'match' example is required")
        return (), ()
    if not isinstance(value, dict):
        raise _fail(source, rule_id, "examples must be a table")
    unknown = sorted(set(value) - _EXAMPLE_KEYS)
    if unknown:
        raise _fail(source, rule_id, f"unknown examples key(s) {', '.join(unknown)}")
    match = _str_list(value.get("match", []), source, rule_id, "examples.match")
    no_match = _str_list(value.get("no_match", []), source, rule_id, "examples.no_match")
    if needed and not match:
        raise _fail(source, rule_id, "examples.match needs at least one example")
    return match, no_match
