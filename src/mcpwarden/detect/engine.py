"""The detection engine: keyword gate, regex confirmation on small windows, post-checks.

    engine = Engine.load()                     built-in rules (+ extra rule files, gitleaks TOML)
    engine.scan_text(text) / scan_bytes(data)  -> list[Finding]
    engine.scan_json(obj)                      JSON values and keys, with a JSON path per finding
    engine.stream()                            a StreamScanner for chunked input

How a buffer is scanned (details in docs/detection.md):

1. The gate (one Vectorscan database, or a trie regex without hyperscan) tells which
   keywords and honeytokens occur, where the regexes of rules with weak keywords can end,
   and where base64/hex runs shaped like encoded text start.
2. Keyword positions are grouped per rule in blocks; each block's window (the longest match
   the regex can make around the hits, plus KEYWORD_REACH for rules whose matches need not
   contain the keyword) is searched with the rule's regex: ``re`` for short windows, RE2
   for long ones. Windows of probed rules in which no match ends are skipped.
3. Each match's secret passes the global placeholder allowlist, the rule's allowlist and
   entropy threshold, then its validator (pass: tier ``validated``; fail: dropped).
4. Suspicious encoded tokens (base64, hex, percent, JSON escapes) are decoded and the
   decoded bytes scanned again (bounded depth and size); findings point at the encoded token.
5. Where findings cover the same span the most certain tier wins (then a provider's rule
   over a format rule such as ``url-basic-auth``), a rule's findings do not
   overlap, and generic findings that overlap a more specific one are dropped.

The engine knows nothing of MCP and holds no state between calls.
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcpwarden.detect import decoders, validators
from mcpwarden.detect.entropy import shannon
from mcpwarden.detect.finding import TIER_RANK, Finding
from mcpwarden.detect.fingerprint import Fingerprinter
from mcpwarden.detect.honeytoken import HoneyToken
from mcpwarden.detect.jsonbytes import keyword_safe
from mcpwarden.detect.placeholders import is_placeholder
from mcpwarden.detect.prefilter import GateReport, find_all, make_gate
from mcpwarden.detect.rule import Rule, compile_re2, leading_width
from mcpwarden.errors import DetectError

if TYPE_CHECKING:
    from mcpwarden.detect.cache import Cache
    from mcpwarden.detect.stream import StreamScanner

try:
    import re2  # type: ignore[import-not-found]
except ImportError:  # optional extra "fast"
    re2 = None

REGEX_ENV = "MCPWARDEN_DETECT_REGEX"
"""``re``, ``re2`` or ``hybrid``: overrides the engine's default regex engine (for tests)."""

MAX_BLOCK = 4096
"""Keyword hits are grouped in blocks (four times a rule's longest match, from 512 bytes up
to this); each block's hits share one window."""

LARGE_WINDOW = 4096
"""In ``hybrid`` mode, windows longer than this run on RE2 (linear time; about 10 us per call
through its Python binding), shorter ones on ``re`` (about 1 us per call; the rule dialect
forbids nested unbounded repetition, so backtracking within so short a window stays small)."""

FIND_IN_RANGES = 16
"""Keywords the gate reports once (they gate probed rules only) are looked for with
``bytes.find`` near the reported match ends while that reads at most this many times the
buffer in all; beyond, their occurrences come from one Vectorscan pass."""

LOWER_WHOLE = 1
"""When those finds read more than this many times the buffer, it is lower-cased whole once
(else each range is lower-cased as it is read)."""

KEYWORD_REACH = 256
"""A keyword gates matches that contain it or lie within this many bytes of it."""


@dataclass(slots=True)
class _Compiled:
    rule: Rule
    regex: Any
    large: Any
    """The RE2 form used for long windows in hybrid mode, else the same as ``regex``."""
    group: int
    before: int
    """How far before a keyword hit a match may start."""
    after: int
    """How far after a keyword hit's end a match may end."""
    block: int
    """Size of the blocks in which this rule's keyword hits share a window."""
    allow: tuple[re.Pattern[str], ...]
    stopwords: tuple[str, ...]
    validator: validators.Validator | None
    tier: str


@dataclass(slots=True)
class RawHit:
    """A confirmed match before it becomes a Finding (internal: holds the secret)."""

    start: int
    end: int
    rule_id: str
    family: str
    severity: str
    tier: str
    secret: bytes
    description: str
    encoding: str | None = None


def _compile_regex(pattern: str, engine: str) -> Any:
    if engine == "re2":
        return compile_re2(pattern)
    return re.compile(pattern.encode())


_FLOAT_REPR_BYTES = frozenset(b"0123456789.e+-")


def _crosses_separator(keyword: bytes) -> bool:
    """Whether ``keyword`` could match across the ``": `` that ``scan_json`` puts between a
    key and its value, or across the newline between pieces: text a JSON line need not hold."""
    return b'":' in keyword or b"\n" in keyword or keyword.startswith((b": ", b" ")) or keyword == b":"


class Engine:
    """Scans text for secrets, PII and honeytokens. Build once, share freely (no state per scan)."""

    def __init__(
        self,
        rules: Sequence[Rule],
        honeytokens: Sequence[HoneyToken] = (),
        key: bytes | None = None,
        gate: str = "auto",
        regex: str = "auto",
        decode: bool = True,
        cache: Cache | None = None,
    ):
        seen: dict[str, str] = {}
        for rule in rules:
            if rule.id in seen:
                raise DetectError(f"rule id {rule.id!r} is defined twice: in {seen[rule.id]} and {rule.source}")
            seen[rule.id] = rule.source
        if regex == "auto":
            regex = os.environ.get(REGEX_ENV) or ("hybrid" if re2 is not None else "re")
        if regex not in ("re", "re2", "hybrid"):
            raise DetectError(f"unknown regex engine {regex!r}: use re, re2 or hybrid")
        if regex != "re" and re2 is None:
            raise DetectError(f"regex engine {regex!r} needs google-re2, which is not installed")
        self.regex_engine = regex
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.honeytokens: tuple[HoneyToken, ...] = tuple(honeytokens)
        for token in self.honeytokens:
            token.check()
        self.fingerprint = Fingerprinter(key)
        self.decode = decode
        # Compiled on first use: most rules never see their keyword in a session, and a gateway
        # should start fast and small.
        self._compiled: list[_Compiled | None] = [None] * len(self.rules)
        self.shortest_match = min(
            [decoders.SHORTEST_ENCODED, *(r.min_width for r in self.rules), *(len(t.value) for t in self.honeytokens)]
        )
        """No finding can lie in a text shorter than this (bytes)."""
        keywords: dict[bytes, int] = {}
        self._kw_rules: list[list[int]] = []
        self._kw_honey: list[list[int]] = []

        def slot(word: bytes) -> int:
            if word not in keywords:
                keywords[word] = len(keywords)
                self._kw_rules.append([])
                self._kw_honey.append([])
            return keywords[word]

        for index, rule in enumerate(self.rules):
            for word in rule.keywords:
                self._kw_rules[slot(word.encode())].append(index)
        self._honey_values = [t.value.encode() for t in self.honeytokens]
        for index, value in enumerate(self._honey_values):
            self._kw_honey[slot(value.lower())].append(index)
        self._kw_lengths = [len(k) for k in keywords]
        self._keywords = list(keywords)
        probes = [(i, r.probe or r.regex) for i, r in enumerate(self.rules) if _worth_probing(r)]
        gated = [None if self._kw_honey[kw] else tuple(self._kw_rules[kw]) for kw in range(len(self._keywords))]
        self._gate = make_gate(self._keywords, probes, gate, cache, gated)
        self.gate_kind = self._gate.kind
        self._probed = self._gate.probed
        self._kw_inner = [len(k) - len(k.lstrip(b'"')) for k in self._keywords]
        """Where each keyword's first character inside a JSON string lies (past a leading quote)."""
        self.json_bytes_safe = self.gate_kind == "hyperscan" and all(map(keyword_safe, self._keywords))
        """Whether scan_json may pick the strings to scan from the value's serialization."""
        self._clean_line_ok = self.gate_kind == "hyperscan" and not any(map(_crosses_separator, self._keywords))
        self._float_keywords = any(set(k) <= _FLOAT_REPR_BYTES for k in self._keywords)
        self.stream_margin = _stream_margin(self.rules, self._keywords)
        """Bytes to hold back behind the clean part of a line that arrives in pieces: no
        finding can start further than this before the first byte ``clean_json_line`` objects
        to (a keyword, run start, escape, ``%`` or float), so everything before that byte
        minus this margin may be sent on (``gateway.stream_results``)."""

    @classmethod
    def load(
        cls,
        extra: Iterable[str | Path] = (),
        builtin: bool = True,
        honeytokens: Sequence[HoneyToken] = (),
        honeytoken_store: str | Path | None = None,
        key: bytes | None = None,
        pii: bool = True,
        cache: bool | str | Path = True,
        **options: Any,
    ) -> Engine:
        """The built-in rules plus ``extra`` rule files (mcpwarden or gitleaks TOML), the
        declared honeytokens and those in ``honeytoken_store``. ``key`` keys fingerprints
        (random per engine when None). ``cache``: True for the default start-up cache
        directory (see ``detect.cache``), a directory, or False for none."""
        from mcpwarden.detect.cache import Cache, default_cache

        store = (default_cache() if cache is True else None) if isinstance(cache, bool) else Cache(Path(cache))
        rules = _load_rules(list(extra), builtin, pii, store)
        tokens = list(honeytokens)
        if honeytoken_store is not None:
            from mcpwarden.detect.honeytoken import load_store

            tokens.extend(load_store(honeytoken_store))
        return cls(rules, tokens, key=key, cache=store, **options)

    def _compile_at(self, index: int) -> _Compiled:
        compiled = self._compiled[index] = self._compile(self.rules[index])
        return compiled

    def _compile(self, rule: Rule) -> _Compiled:
        return _Compiled(
            rule=rule,
            regex=_compile_regex(rule.regex, "re2" if self.regex_engine == "re2" else "re"),
            large=_compile_regex(rule.regex, "re" if self.regex_engine == "re" else "re2"),
            group=rule.secret_group,
            before=rule.max_width if rule.keyword_inside else rule.max_width + KEYWORD_REACH,
            after=rule.max_width + 1 if rule.keyword_inside else rule.max_width + KEYWORD_REACH,
            block=min(MAX_BLOCK, max(512, 4 * rule.max_width)),
            allow=tuple(re.compile(p) for p in rule.allow_regexes),
            stopwords=rule.stopwords,
            validator=validators.VALIDATORS[rule.validator] if rule.validator else None,
            tier=rule.tier,
        )

    def __repr__(self) -> str:
        return (
            f"<Engine rules={len(self.rules)} honeytokens={len(self.honeytokens)} gate={self.gate_kind} "
            f"regex={self.regex_engine}>"
        )

    # -- public API -------------------------------------------------------------------

    def scan_bytes(self, data: bytes) -> list[Finding]:
        """Findings in ``data``, offsets in bytes."""
        return self.findings(self.raw_hits(data))

    def scan_text(self, text: str) -> list[Finding]:
        """Findings in ``text``, offsets in characters."""
        data = text.encode("utf-8", "surrogatepass")
        found = self.scan_bytes(data)
        if len(data) == len(text) or not found:
            return found
        return _to_char_offsets(data, found)

    def scan_json(self, obj: Any) -> list[Finding]:
        """Findings in every string value, key and number of ``obj``; each carries the JSON
        path of its string and offsets in characters within that string."""
        from mcpwarden.detect.jsonscan import scan_json

        if self.json_bytes_safe:
            from mcpwarden.detect.jsonbytes import MANY_STRINGS, scan_serialized, serialize

            data = serialize(obj)
            if data is not None:
                found = scan_serialized(self, obj, data, MANY_STRINGS)
                if found is not None:
                    return found
        return scan_json(self, obj)

    def clean_json_line(self, raw: bytes) -> bool:
        """True when ``raw``, a JSON text, certainly holds nothing: ``scan_json`` of any value
        parsed from it would find nothing. One Vectorscan pass over the line, no walk; the
        gateway asks this first for each message. False means "scan to know".

        Why it holds: with no backslash, every string and key of the parsed value lies in
        ``raw`` verbatim, and so does every integer; ``scan_json`` looks at those (with
        ``"key": `` context, which no keyword can straddle: see ``_crosses_separator``) and
        at reprs of floats, which may differ from their JSON text (``1E3`` -> ``1000.0``, a
        20-digit integer -> ``1e+20``), so lines with floats or long digit runs are scanned
        when a keyword is made of float characters. No keyword (honeytokens included), no
        base64/hex run start, no backslash and no ``%`` leave the confirmation and every
        decoder with nothing to do."""
        if not self._clean_line_ok:
            return False
        return self._gate.clean(raw, self._float_keywords)  # type: ignore[union-attr]

    def stream(self) -> StreamScanner:
        """A StreamScanner: ``feed(chunk)`` and ``close()`` return findings with absolute byte offsets."""
        from mcpwarden.detect.stream import StreamScanner

        return StreamScanner(self)

    # -- internals shared by the JSON walker and the stream scanner -------------------

    def findings(self, hits: list[RawHit]) -> list[Finding]:
        fp = self.fingerprint
        return [
            Finding(
                h.rule_id, h.family, h.severity, h.tier, h.start, h.end, fp(h.secret), None, h.encoding, h.description
            )
            for h in hits
        ]

    def raw_hits(
        self,
        data: bytes,
        bounds: list[int] | None = None,
        depth: int = 0,
        budget_size: int | None = None,
    ) -> list[RawHit]:
        """Confirmed hits in ``data``. ``bounds``: sorted segment boundaries
        (start0, end0, start1, end1, ...) that no match may cross. ``budget_size``: the size
        the decoders' budget is based on, when ``data`` is a selection from a larger text."""
        report = self._gate.presence(data)
        hits = self._confirm(data, bounds, report)
        if self.decode and depth < decoders.MAX_DEPTH:
            for start, end, encoding, decoded in decoders.encoded_segments(data, report[2], budget_size):
                for inner in self.raw_hits(decoded, None, depth + 1):
                    hits.append(
                        RawHit(
                            start,
                            end,
                            inner.rule_id,
                            inner.family,
                            inner.severity,
                            inner.tier,
                            inner.secret,
                            inner.description,
                            inner.encoding or encoding,
                        )
                    )
        return _resolve(hits)

    def _confirm(self, data: bytes, bounds: list[int] | None, report: GateReport) -> list[RawHit]:
        present, matchable, _, occurrences = report
        if present is not None and not present:
            return []
        kw_rules, kw_honey, kw_len, probed = self._kw_rules, self._kw_honey, self._kw_lengths, self._probed
        size = len(data)
        if present is None or matchable is None or occurrences is None:  # the pure-Python gate
            gate_hits: list[tuple[int, int]] = self._gate.hits(data.lower())  # type: ignore[union-attr]
        else:
            gate_hits = occurrences
            self._near_ends(data, present, matchable, gate_hits)
        out: list[RawHit] = []
        per_rule: dict[int, list[tuple[int, int]]] = {}
        for kw, start in gate_hits:
            end = start + kw_len[kw]
            for index in kw_rules[kw]:
                if matchable is not None and index in probed and index not in matchable:
                    continue
                per_rule.setdefault(index, []).append((start, end))
            for index in kw_honey[kw]:
                self._honey(data, start, index, out)
        for index, spans in per_rule.items():
            compiled = self._compiled[index] or self._compile_at(index)
            ends = matchable.get(index) if matchable is not None and index in probed else None
            for lo, hi, hard in _windows(spans, compiled.before, compiled.after, compiled.block, size, bounds):
                if ends is not None:
                    i = bisect.bisect_right(ends, lo)
                    if i == len(ends) or ends[i] > hi:
                        continue  # no match of this rule ends inside the window
                self._run(compiled, data, lo, hi, hard, out)
        return out

    def _near_ends(
        self, data: bytes, present: list[int], matchable: dict[int, list[int]], out: list[tuple[int, int]]
    ) -> None:
        """Appends (keyword, start) for the present keywords the gate reported once (they
        gate probed rules only), in the blocks whose window can hold a reported match end of
        one of their rules. When those blocks add up to much reading, every occurrence comes
        from one Vectorscan pass instead (windows without a match end are skipped later)."""
        kw_rules, once = self._kw_rules, self._gate.once  # type: ignore[union-attr]
        size = len(data)
        wanted: list[tuple[int, list[tuple[int, int]]]] = []
        reading = 0
        for kw in present:
            if not once[kw]:
                continue
            ranges: list[tuple[int, int]] = []
            for rule in kw_rules[kw]:
                ends = matchable.get(rule)
                if ends:
                    compiled = self._compiled[rule] or self._compile_at(rule)
                    block = compiled.block
                    ranges.extend(
                        (k * block, (k + 1) * block) for k in _blocks_near(ends, compiled.before, compiled.after, block)
                    )
            if ranges:
                merged = _merge_ranges(ranges)
                reading += sum(min(size, hi) - lo for lo, hi in merged)
                wanted.append((kw, merged))
        if not wanted:
            return
        if reading > FIND_IN_RANGES * size:
            keep = {kw for kw, _ in wanted}
            found, _ = self._gate.every(data)  # type: ignore[union-attr]
            out.extend((kw, start) for start, kw in found if kw in keep)
            return
        whole = data.lower() if reading > LOWER_WHOLE * size else None  # else just the ranges read
        for kw, merged in wanted:
            word = self._keywords[kw]
            for lo, hi in merged:
                hi = min(size, hi + len(word) - 1)
                if whole is not None:
                    find_all(whole, word, kw, out, lo, hi)
                    continue
                chunk = data[lo:hi].lower()
                pos = chunk.find(word)
                while pos >= 0:
                    out.append((kw, lo + pos))
                    pos = chunk.find(word, pos + 1)

    def _honey(self, data: bytes, start: int, index: int, out: list[RawHit]) -> None:
        value = self._honey_values[index]
        if data.startswith(value, start):
            token = self.honeytokens[index]
            out.append(
                RawHit(
                    start,
                    start + len(value),
                    f"honeytoken-{token.kind}",
                    "honeytoken",
                    "critical",
                    "honeytoken",
                    value,
                    f"honeytoken {token.name!r}",
                )
            )

    def _run(self, compiled: _Compiled, data: bytes, lo: int, hi: int, hard: bool, out: list[RawHit]) -> None:
        rule = compiled.rule
        regex = compiled.large if hi - lo > LARGE_WINDOW else compiled.regex
        for m in regex.finditer(data, lo, hi):
            if m.end() >= hi and not hard:
                continue  # touches a window edge that is not a real end: \b or $ there would be artificial
            start, end = m.span(compiled.group)
            if start < 0 or end <= start:
                continue
            secret = data[start:end]
            tier = self._check(compiled, secret)
            if tier is not None:
                out.append(RawHit(start, end, rule.id, rule.family, rule.severity, tier, secret, rule.description))

    def _check(self, compiled: _Compiled, secret_bytes: bytes) -> str | None:
        """The finding's tier if ``secret`` survives the allowlists and checks, else None."""
        secret = secret_bytes.decode("utf-8", "replace")
        if is_placeholder(secret):
            return None
        if compiled.stopwords:
            lowered = secret.lower()
            if any(word in lowered for word in compiled.stopwords):
                return None
        if any(p.search(secret) for p in compiled.allow):
            return None
        if compiled.rule.entropy is not None and shannon(secret) < compiled.rule.entropy:
            return None
        if compiled.validator is not None:
            if not compiled.validator(secret):
                return None
            return "validated" if compiled.tier == "pattern" else compiled.tier
        return compiled.tier


def _load_rules(extra: list[str | Path], builtin: bool, pii: bool, cache: Cache | None) -> list[Rule]:
    """The rules ``Engine.load`` selects, from the cache when it holds the same files."""
    from mcpwarden.detect.ruleset import (
        builtin_rule_files,
        builtin_rules,
        load_rule_file,
        rules_from_bytes,
        rules_to_bytes,
    )

    cache_key = None
    if cache is not None:
        from mcpwarden.detect.cache import make_key

        parts: list[bytes | str] = ["rules", f"builtin={builtin} pii={pii}"]
        try:
            for path in [*(builtin_rule_files() if builtin else []), *map(Path, extra)]:
                parts += [str(path), path.read_bytes()]
        except OSError:
            pass  # the loader below reports the unreadable file
        else:
            cache_key = make_key(parts)
            payload = cache.get("rules", cache_key)
            if payload is not None:
                try:
                    return rules_from_bytes(payload)
                except ValueError:
                    pass  # rebuilt and rewritten below
    rules: list[Rule] = builtin_rules() if builtin else []
    if not pii:
        rules = [r for r in rules if r.tier != "pii"]
    for path in extra:
        rules.extend(load_rule_file(path, check_examples=True))
    if cache is not None and cache_key is not None:
        cache.put("rules", cache_key, rules_to_bytes(rules))
    return rules


PROBE_LEAD_LIMIT = 32


def _worth_probing(rule: Rule) -> bool:
    """Rules whose keywords are common words or short fragments (generic and PII rules, or
    a keyword of three characters or fewer) have their regex run by the gate too, so their
    windows are searched only where a match ends. Regexes that can run long before their
    first literal (an e-mail's local part) would slow the gate more than they save."""
    weak = rule.tier in ("generic", "pii") or min(len(k) for k in rule.keywords) <= 3
    return weak and leading_width(rule.probe or rule.regex) < PROBE_LEAD_LIMIT


def _stream_margin(rules: Sequence[Rule], keywords: Sequence[bytes]) -> int:
    """See ``Engine.stream_margin``. A finding starts at most this far before what the clean
    check reports: a rule's window (``before`` in ``_compile``), a percent-encoded token
    (2048 bytes back), a JSON-escaped literal (``decoders.MAX_TOKEN`` back); plus the longest
    thing the check matches (a keyword, a run's first ``MIN_BASE64`` bytes, a float's text)."""
    reach = max([decoders.MAX_TOKEN, 2048, *(r.max_width + KEYWORD_REACH for r in rules)])
    longest = max([decoders.MIN_BASE64 + 1, 64, *(len(k) for k in keywords)])
    return reach + longest


def _windows(
    spans: list[tuple[int, int]], before: int, after: int, block: int, size: int, bounds: list[int] | None
) -> list[tuple[int, int, bool]]:
    """Regions ``(lo, hi, hard)`` to search: the keyword hits are grouped by block of
    ``block`` bytes (and by JSON string when ``bounds`` is given), and each group's region
    runs from ``before`` ahead of its first hit to ``after`` past its last one, clipped to the
    string. ``hard`` says ``hi`` is a real end (of the buffer or of a JSON string). A region
    depends only on the hits of its own block, so a gate that knows where matches can be
    may look for keywords in a few blocks only and still search exactly the same regions."""
    spans.sort()
    out: list[tuple[int, int, bool]] = []
    group_key: tuple[int, int] | None = None
    lo = hi = 0
    hard = False
    for start, end in spans:
        seg = 0
        if bounds is not None:
            seg = bisect.bisect_right(bounds, start) - 1
            if seg % 2:  # the hit lies in a separator: ignore it
                continue
        key = (start // block, seg)
        if key != group_key:
            if group_key is not None:
                out.append((lo, hi, hard))
            group_key = key
            lo = max(0, start - before)
            if bounds is not None:
                lo = max(lo, bounds[seg])
            hi = 0
        reach = min(size, end + after)
        if reach > hi:
            hi, hard = reach, reach == size
            if bounds is not None and hi >= bounds[seg + 1]:
                hi, hard = bounds[seg + 1], True
    if group_key is not None:
        out.append((lo, hi, hard))
    return out


def _blocks_near(ends: list[int], before: int, after: int, block: int) -> set[int]:
    """Blocks whose region (see _windows) can contain one of ``ends``."""
    out: set[int] = set()
    for end in ends:
        first = max(0, (end - after) // block - 1)
        last = (end + before) // block
        out.update(range(first, last + 1))
    return out


def _merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    ranges.sort()
    out: list[tuple[int, int]] = []
    for lo, hi in ranges:
        if out and lo <= out[-1][1]:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


FORMAT_FAMILIES = frozenset({"generic", "auth-urls"})
"""Families of rules that know a credential by its setting (an assignment, a URL's user
info, a header) rather than by a provider's token format: on the same span, with the same
tier, a provider's rule names the finding."""


def _resolve(hits: list[RawHit]) -> list[RawHit]:
    """One finding per span (the most certain tier; then not encoded; then a provider's rule
    before a format rule; then by rule id); a rule's findings do not overlap each other;
    generic findings that overlap a specific one go."""
    if len(hits) <= 1:
        return hits
    hits.sort(
        key=lambda h: (
            h.start,
            h.end,
            TIER_RANK[h.tier],
            h.encoding is not None,
            h.family in FORMAT_FAMILIES,
            h.rule_id,
        )
    )
    unique: list[RawHit] = []
    rule_end: dict[str, int] = {}
    for hit in hits:
        if unique and unique[-1].start == hit.start and unique[-1].end == hit.end:
            continue
        if hit.start < rule_end.get(hit.rule_id, -1):
            continue  # the same rule again inside its own earlier match (overlapping windows)
        rule_end[hit.rule_id] = hit.end
        unique.append(hit)
    specific = [(h.start, h.end) for h in unique if h.tier != "generic"]
    if len(specific) == len(unique):
        return unique
    starts = [s for s, _ in specific]
    kept = []
    for hit in unique:
        if hit.tier == "generic" and _overlaps(specific, starts, hit.start, hit.end):
            continue
        kept.append(hit)
    return kept


def _overlaps(spans: list[tuple[int, int]], starts: list[int], start: int, end: int) -> bool:
    i = bisect.bisect_left(starts, end)
    for j in range(i - 1, -1, -1):
        s, e = spans[j]
        if e > start:
            return True
        if start - s > 2 * decoders.MAX_TOKEN:
            break
    return False


def _to_char_offsets(data: bytes, found: list[Finding]) -> list[Finding]:
    """Byte offsets -> character offsets, decoding each prefix once in order."""
    points = sorted({f.start for f in found} | {f.end for f in found})
    mapping: dict[int, int] = {}
    chars = 0
    prev = 0
    for point in points:
        chars += _char_len(data[prev:point])
        mapping[point] = chars
        prev = point
    return [
        Finding(
            f.rule_id,
            f.family,
            f.severity,
            f.tier,
            mapping[f.start],
            mapping[f.end],
            f.fingerprint,
            f.path,
            f.encoding,
            f.description,
        )
        for f in found
    ]


def _char_len(piece: bytes) -> int:
    try:
        return len(piece.decode("utf-8", "surrogatepass"))
    except UnicodeDecodeError:  # a span edge inside a multi-byte character
        return len(piece.decode("utf-8", "ignore"))
