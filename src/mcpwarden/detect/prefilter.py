"""The keyword gate: where the rules' keywords occur, and which rules can match at all.

Both implementations lead to exactly the same keyword hits: every occurrence (overlapping
ones included) of every keyword in the lower-cased buffer (so ASCII-case-insensitively).
They differ in how much they can skip:

* ``PythonGate`` knows nothing in advance: one ``re`` pass over a trie of all keywords lists
  every hit, and every rule with a hit is confirmed.
* ``HyperscanGate`` runs one Vectorscan database over the buffer holding every keyword and,
  for the rules listed as *probed*, the rule's own regex (or its ``probe``), reporting where
  matches end. A keyword that gates probed rules only is reported once at most (the engine
  looks for it with ``bytes.find`` near the reported match ends only); every other keyword
  (a specific token prefix, a honeytoken) is reported at each occurrence. A window of a
  probed rule is searched only if a match ends inside it. Skipping never changes findings:
  a match ``re`` finds in a window (away from an artificial window edge) is a match of the
  full buffer, whose end Vectorscan reports. The same pass finds the starts of base64/hex
  runs shaped like encoded text, for the decoders.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from mcpwarden.detect.decoders import BASE64_RUN_SHAPES, MIN_BASE64

if TYPE_CHECKING:
    from mcpwarden.detect.cache import Cache

try:
    import hyperscan
except ImportError:  # optional extra "fast"
    hyperscan = None

HAVE_HYPERSCAN = hyperscan is not None

GateReport = tuple[list[int] | None, dict[int, list[int]] | None, list[int] | None, list[tuple[int, int]] | None]
"""(keywords that occur, probed rule -> sorted match ends, starts of shaped base64/hex runs,
every (keyword, start) of the keywords reported at each occurrence); None means "not known"."""


def find_all(
    lowered: bytes, keyword: bytes, index: int, out: list[tuple[int, int]], lo: int = 0, hi: int | None = None
) -> None:
    """Append (index, start) for every occurrence of ``keyword`` within ``lowered[lo:hi]``,
    overlapping ones included."""
    find = lowered.find
    end = len(lowered) if hi is None else hi
    pos = find(keyword, lo, end)
    while pos >= 0:
        out.append((index, pos))
        pos = find(keyword, pos + 1, end)


class PythonGate:
    """Pure Python: nothing is known before looking, so every keyword is looked for and every
    rule with a hit is confirmed. Keyword positions come from one ``re`` pass with a trie of
    all keywords in a lookahead (every position where some keyword starts), then a walk down
    the trie at each such position lists every keyword that starts there."""

    kind = "python"

    def __init__(
        self,
        keywords: Sequence[bytes],
        probes: Sequence[tuple[int, str]] = (),
        gated: Sequence[Sequence[int] | None] | None = None,
    ):
        self.keywords = [k.lower() for k in keywords]
        self.probed: frozenset[int] = frozenset()
        self._trie: dict[Any, Any] = {}
        for index, word in enumerate(self.keywords):
            node = self._trie
            for byte in word:
                node = node.setdefault(byte, {})
            node[None] = index
        self._starts = re.compile(b"(?=" + _trie_regex(self._trie) + b")") if self.keywords else None

    def presence(self, data: bytes) -> GateReport:
        """Nothing is known in advance (see ``GateReport``)."""
        return None, None, None, None

    def hits(self, lowered: bytes) -> list[tuple[int, int]]:
        """Every (keyword index, start) in the lower-cased buffer, overlapping ones included."""
        out: list[tuple[int, int]] = []
        if self._starts is None:
            return out
        trie = self._trie
        size = len(lowered)
        for match in self._starts.finditer(lowered):
            pos = match.start()
            node = trie
            i = pos
            while i < size:
                node = node.get(lowered[i])
                if node is None:
                    break
                i += 1
                if None in node:
                    out.append((node[None], pos))
        return out


def _trie_regex(node: dict[Any, Any]) -> bytes:
    alternatives = [
        re.escape(bytes([byte])) + _trie_regex(child)
        for byte, child in sorted(((k, v) for k, v in node.items() if k is not None), key=lambda item: item[0])
    ]
    if not alternatives:
        return b""
    body = alternatives[0] if len(alternatives) == 1 else b"(?:" + b"|".join(alternatives) + b")"
    return b"(?:" + body + b")?" if None in node else body


def _escape(literal: bytes) -> bytes:
    return b"".join(bytes([c]) if chr(c).isalnum() and c < 128 else b"\\x%02x" % c for c in literal)


def _repeated(keyword: bytes) -> bool:
    """A keyword made of one character repeated (the X bearer token's ``aaaa...``)."""
    return len(keyword) >= 2 and keyword.count(keyword[:1]) == len(keyword)


def _keyword_expr(keyword: bytes) -> bytes:
    """How a keyword is looked for. A repeated character is matched where a run of it starts
    only (the run's end is added afterwards: ``_run_ends``): as a literal it would match at
    every byte of a long run, and a megabyte of ``A`` (base64 of zero bytes) would cost a
    million callbacks instead of one."""
    if not _repeated(keyword):
        return _escape(keyword)
    char = _escape(keyword[:1])
    return b"(?:^|[^%s])%s{%d}" % (char, char, len(keyword))


def _run_patterns(keywords: Sequence[bytes]) -> dict[int, re.Pattern[bytes]]:
    """Per repeated-character keyword: a pattern that matches the rest of a run of it (any case)."""
    return {
        index: re.compile(b"[%s%s]*" % (re.escape(k[:1].lower()), re.escape(k[:1].upper())))
        for index, k in enumerate(keywords)
        if _repeated(k)
    }


class HyperscanGate:
    """One Vectorscan block-mode database: keywords and probe regexes. ``gated``: per keyword,
    the rules it gates, or None when it must be reported at each occurrence anyway (a
    honeytoken); a keyword whose rules are all probed is reported once at most. Without
    ``gated`` every keyword is reported at each occurrence."""

    kind = "hyperscan"

    def __init__(
        self,
        keywords: Sequence[bytes],
        probes: Sequence[tuple[int, str]] = (),
        cache: Cache | None = None,
        gated: Sequence[Sequence[int] | None] | None = None,
    ):
        if hyperscan is None:
            raise RuntimeError("hyperscan is not installed")
        self.keywords = [k.lower() for k in keywords]
        self._gated = list(gated) if gated is not None else [None] * len(self.keywords)
        exact = hyperscan.HS_FLAG_MULTILINE | hyperscan.HS_FLAG_ALLOWEMPTY
        keyword_exprs = [_keyword_expr(k) for k in self.keywords] + list(BASE64_RUN_SHAPES)
        self._runs = _run_patterns(self.keywords)
        self._n_kw = len(self.keywords)
        self._n_fixed = self._n_kw + len(BASE64_RUN_SHAPES)
        self._lengths = [len(k) for k in self.keywords]
        self._cache = cache
        self._cache_key = ""
        if cache is not None:
            from mcpwarden.detect.cache import make_key

            self._cache_key = make_key(
                [
                    "gate3",
                    _hyperscan_version(),
                    *self.keywords,
                    *(f"{rule}\0{regex}" for rule, regex in probes),
                    repr(self._gated),
                ]
            )
        loaded = self._load_cached("gate")
        regexes = {rule: regex.encode() for rule, regex in probes}
        if loaded is not None and all(rule in regexes for rule, _ in loaded[1]):
            self._db = loaded[0]
            usable = [(rule, regexes[rule], flag) for rule, flag in loaded[1]]
        else:
            usable = [(rule, regex.encode(), exact) for rule, regex in probes]
            self._db = _build(keyword_exprs, self._keyword_flags(usable), usable)
            if self._db is None:  # some probe is refused as written: find which, try it as a prefilter
                checked = []
                for rule, regex, _ in usable:
                    for flag in (exact, exact | hyperscan.HS_FLAG_PREFILTER):
                        if _compiles(regex, flag):
                            checked.append((rule, regex, flag))
                            break
                usable = checked
                self._db = _build(keyword_exprs, self._keyword_flags(usable), usable)
            self._store_cached("gate", self._db, [(rule, flag) for rule, _, flag in usable])
        self.probed = frozenset(rule for rule, _, _ in usable)
        self.once = [self._reported_once(kw, self.probed) for kw in range(self._n_kw)]
        """Per keyword: reported once at most (it gates probed rules only)."""
        self._probe_rules = [rule for rule, _, _ in usable]
        self._local = threading.local()
        self._words_db: Any = None
        """Every occurrence of every keyword, and the shaped runs (built on first use)."""
        self._clean_dbs: dict[bool, Any] = {}
        """``clean``'s databases (with and without float text), built on first use."""

    def _reported_once(self, kw: int, probed: frozenset[int]) -> bool:
        rules = self._gated[kw]
        return rules is not None and all(rule in probed for rule in rules)

    def _keyword_flags(self, usable: list[tuple[int, bytes, int]]) -> list[int]:
        probed = frozenset(rule for rule, _, _ in usable)
        once = hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH
        flags = [once if self._reported_once(kw, probed) else hyperscan.HS_FLAG_CASELESS for kw in range(self._n_kw)]
        return flags + [0] * len(BASE64_RUN_SHAPES)

    def _load_cached(self, kind: str) -> tuple[Any, list[tuple[int, int]]] | None:
        if self._cache is None:
            return None
        payload = self._cache.get(kind, self._cache_key)
        if payload is None or len(payload) < 4:
            return None
        size = int.from_bytes(payload[:4], "big")
        try:
            specs = orjson.loads(payload[4 : 4 + size])
            if not isinstance(specs, list) or not all(
                isinstance(s, list) and len(s) == 2 and all(type(v) is int for v in s) for s in specs
            ):
                return None
            body = payload[4 + size :]
            return (hyperscan.loadb(body, hyperscan.HS_MODE_BLOCK) if body else None), [(r, f) for r, f in specs]
        except (orjson.JSONDecodeError, hyperscan.error, TypeError, ValueError):
            return None

    def _store_cached(self, kind: str, db: Any, specs: list[tuple[int, int]]) -> None:
        if self._cache is None:
            return
        header = orjson.dumps(specs)
        body = hyperscan.dumpb(db) if db is not None else b""
        self._cache.put(kind, self._cache_key, len(header).to_bytes(4, "big") + header + body)

    def clean(self, data: bytes, floats: bool) -> bool:
        """True when ``data`` holds no keyword, no shaped-run start, no backslash, no ``%``
        and, with ``floats``, no float text (see ``FLOAT_TEXT``): one pass over ``data``
        that stops at the first of them (``Engine.clean_json_line``)."""
        db, scratch = self._clean_db(floats)
        try:
            db.scan(data, match_event_handler=_stop, scratch=scratch)
        except hyperscan.ScanTerminated:
            return False
        return True

    def _clean_db(self, floats: bool) -> tuple[Any, Any]:
        local = self._local
        slot = "clean_floats" if floats else "clean"
        found = getattr(local, slot, None)
        if found is not None:
            return found
        db = self._clean_dbs.get(floats)
        if db is None:
            kind = "clean-floats" if floats else "clean"
            loaded = self._load_cached(kind)
            if loaded is not None and loaded[0] is not None:
                db = loaded[0]
            else:
                exprs = [_escape(k) for k in self.keywords] + list(BASE64_RUN_SHAPES) + list(CLEAN_BREAKERS)
                flags = [hyperscan.HS_FLAG_CASELESS] * self._n_kw + [0] * (len(exprs) - self._n_kw)
                if floats:
                    exprs += FLOAT_TEXT
                    flags += [0] * len(FLOAT_TEXT)
                flags = [f | hyperscan.HS_FLAG_SINGLEMATCH for f in flags]
                db = _build(exprs, flags, [])
                self._store_cached(kind, db, [])
            self._clean_dbs[floats] = db
        found = (db, hyperscan.Scratch(db))
        setattr(local, slot, found)
        return found

    def _scratch(self) -> Any:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = hyperscan.Scratch(self._db)
            self._local.scratch = scratch
        return scratch

    def _words(self) -> Any:
        db = self._words_db
        if db is None:
            loaded = self._load_cached("words")
            if loaded is not None and loaded[0] is not None:
                db = loaded[0]
            else:
                flags = [hyperscan.HS_FLAG_CASELESS] * self._n_kw + [0] * len(BASE64_RUN_SHAPES)
                words = [_keyword_expr(k) for k in self.keywords] + list(BASE64_RUN_SHAPES)
                db = _build(words, flags, [])
                self._store_cached("words", db, [])
            self._words_db = db
        return db

    def every(self, data: bytes) -> tuple[list[tuple[int, int]], list[int]]:
        """One pass that reports every (start, keyword index) in ``data``
        (ASCII-case-insensitively, overlapping ones included, in no particular order) and
        the starts of shaped runs."""
        if not data or not self.keywords:
            return [], []
        db = self._words()
        scratch = getattr(self._local, "words_scratch", None)
        if scratch is None:
            scratch = self._local.words_scratch = hyperscan.Scratch(db)
        found: list[tuple[int, int]] = []
        runs: set[int] = set()
        append, add_run = found.append, runs.add
        lengths = self._lengths
        n_kw = self._n_kw

        def on_match(index: int, _start: int, end: int, _flags: int, _ctx: Any) -> None:
            if index < n_kw:
                append((end - lengths[index], index))
            else:
                add_run(end - MIN_BASE64)

        db.scan(data, match_event_handler=on_match, scratch=scratch)
        if self._runs:
            runs_found = [(index, start) for start, index in found if index in self._runs]
            found.extend((start, index) for index, start in self._run_ends(data, runs_found))
        return found, sorted(runs)

    def presence(self, data: bytes) -> GateReport:
        if self._db is None or not data:
            return [], {}, [], []
        found: list[tuple[int, int]] = []
        append = found.append

        def on_match(index: int, _start: int, end: int, _flags: int, _ctx: Any) -> None:
            append((index, end))

        self._db.scan(data, match_event_handler=on_match, scratch=self._scratch())
        n_kw, n_fixed, once, lengths = self._n_kw, self._n_fixed, self.once, self._lengths
        keywords: set[int] = set()
        occurrences: list[tuple[int, int]] = []
        ends: dict[int, list[int]] = {}
        runs: set[int] = set()
        for index, end in found:
            if index < n_kw:
                keywords.add(index)
                if not once[index]:
                    occurrences.append((index, end - lengths[index]))
            elif index < n_fixed:
                runs.add(end - MIN_BASE64)
            else:
                ends.setdefault(self._probe_rules[index - n_fixed], []).append(end)
        for positions in ends.values():
            positions.sort()
        if self._runs:
            occurrences.extend(self._run_ends(data, occurrences))
        return sorted(keywords), ends, sorted(runs), occurrences

    def _run_ends(self, data: bytes, occurrences: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """For each (keyword, start) of a repeated-character keyword, which is where a run of
        it starts: (keyword, start of its last occurrence in that run), when that is later."""
        out = []
        lengths = self._lengths
        for index, start in occurrences:
            pattern = self._runs.get(index)
            if pattern is not None:
                last = pattern.match(data, start).end() - lengths[index]
                if last > start:
                    out.append((index, last))
        return out


FLOAT_TEXT = (rb"[:,\[\s]-?[0-9]+[.eE]", rb"[0-9]{20}")
"""A JSON number with a fraction or an exponent (numbers follow ``:``, ``,``, ``[`` or
whitespace), and an integer too long for 64 bits (orjson reads it as a float)."""
CLEAN_BREAKERS = (rb"\\", rb"%")
"""A backslash (an escape: a string's text differs from its bytes) and ``%`` (a
percent-encoded value for the decoders) make a line unclean."""


def _stop(*_: Any) -> bool:
    return True


def _build(keywords: list[bytes], kw_flags: list[int], probes: list[tuple[int, bytes, int]]) -> Any:
    expressions = keywords + [regex for _, regex, _ in probes]
    if not expressions:
        return None
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        db.compile(
            expressions=expressions,
            ids=list(range(len(expressions))),
            elements=len(expressions),
            flags=kw_flags + [flag for _, _, flag in probes],
        )
    except hyperscan.error:
        if probes:
            return None
        raise
    return db


def _compiles(expression: bytes, flags: int) -> bool:
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        db.compile(expressions=[expression], ids=[0], elements=1, flags=[flags])
    except hyperscan.error:
        return False
    return True


def make_gate(
    keywords: Sequence[bytes],
    probes: Sequence[tuple[int, str]] = (),
    kind: str = "auto",
    cache: Cache | None = None,
    gated: Sequence[Sequence[int] | None] | None = None,
) -> PythonGate | HyperscanGate:
    """``kind``: "auto" (hyperscan when installed), "hyperscan" or "python". ``cache``
    keeps the compiled Vectorscan databases between runs. ``gated``: see HyperscanGate."""
    if kind == "python" or (kind == "auto" and not HAVE_HYPERSCAN):
        return PythonGate(keywords, probes, gated)
    return HyperscanGate(keywords, probes, cache, gated)


def _hyperscan_version() -> str:
    version = getattr(hyperscan, "__version__", None)
    if version is None:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as installed

        try:
            version = installed("hyperscan")
        except PackageNotFoundError:
            version = "unknown"
    return str(version)
