"""Decoding of suspicious tokens so that an encoded secret is still seen.

``encoded_segments(buf)`` yields ``(start, end, encoding, decoded)`` for:

* ``base64`` / ``hex``: runs of 24+ characters of the base64 alphabet (standard or URL-safe)
  that contain a digit, or 32+ hex digits, which decode to mostly printable text;
* ``url``: runs holding ``%XX`` escapes;
* ``json-escape``: JSON string literals holding ``\\uXXXX``, ``\\n`` or ``\\/`` escapes (a PEM
  key in a ``.json`` file, ``\\u0041KIA...``).

Everything is bounded: tokens of at most MAX_TOKEN bytes; per buffer at most MAX_CANDIDATES
candidates plus one per 32 bytes, and MAX_DECODED_BYTES decoded bytes plus half the buffer's
size. The engine rescans decoded text up to
MAX_DEPTH levels deep.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from urllib.parse import unquote_to_bytes

import orjson

MIN_BASE64 = 24
MIN_HEX = 32
MAX_TOKEN = 64 * 1024
MAX_CANDIDATES = 20_000
MAX_DECODED_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 2
SHORTEST_ENCODED = 6
"""No text shorter than this holds anything a decoder acts on (a JSON literal with an escape
and four characters, or percent escapes decoding to 8 bytes, are longer)."""

_B64_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-"
_B64_MAP = bytes(0x41 if i in _B64_CHARS else 0x20 for i in range(256))
_B64_NEEDLE = b"A" * MIN_BASE64
_B64_RUN = re.compile(rb"[A-Za-z0-9+/_\-]*")
_DIGITS = b"0123456789"
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_B64_TEXT_LEAD = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"
"""The first character of each base64 quad encodes a byte's top six bits: below 0x80 (ASCII
text) it is one of these."""
_HEX_TEXT_HIGH = b"234567"
"""The high nibble of a printable ASCII byte."""
_PERCENT_ESCAPE = re.compile(rb"%[0-9A-Fa-f]{2}")
_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\t\n\r"
_URL_RUN = re.compile(rb"[^\s\"'<>`]{0,2048}")
_LAST_DELIMITER = re.compile(rb".*[\s\"'<>`]", re.S)
_JSON_LITERAL = re.compile(rb'"(?:[^"\\\n]|\\.){4,65536}"')


def _texty(data: bytes) -> bool:
    """Mostly printable (so the decoded form is text worth scanning, not binary)."""
    if len(data) < 12:
        return False
    binary = len(data.translate(None, _PRINTABLE))
    if binary == 0:
        return True
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return sum(1 for c in text if not c.isprintable() and c not in "\t\n\r") <= len(text) // 20


def _decode_base64(token: bytes) -> bytes | None:
    body = token.rstrip(b"=")
    if len(body) % 4 == 1:
        body = body[:-1]
    padded = body + b"=" * (-len(body) % 4)
    try:
        if b"-" in body or b"_" in body:
            if b"+" in body or b"/" in body:
                return None
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None


BASE64_RUN_SHAPES = (
    rb"(?:^|[^A-Za-z0-9+/_\-])(?:[A-Za-f][A-Za-z0-9+/_\-]{3}){4}[A-Za-z0-9+/_\-]{8}",
    rb"(?:^|[^A-Za-z0-9+/_\-])(?:[2-7][A-Za-z0-9+/_\-]){4}[A-Za-z0-9+/_\-]{16}",
)
"""The start of a shaped run (see _shaped_runs) as Vectorscan patterns: each reports the end
of the run's first MIN_BASE64 characters, so the run starts MIN_BASE64 bytes earlier."""


def _shaped_runs(buf: bytes, mapped: bytes) -> Iterator[int]:
    """Starts of runs of MIN_BASE64+ base64-alphabet characters that begin the way base64 of
    text (the first four quads lead with a _B64_TEXT_LEAD character) or hex of text (the
    first four bytes have a _HEX_TEXT_HIGH high nibble) must begin."""
    find = mapped.find
    lead, high = _B64_TEXT_LEAD, _HEX_TEXT_HIGH
    pos = find(_B64_NEEDLE)
    while pos >= 0:
        if (buf[pos] in lead and buf[pos + 4] in lead and buf[pos + 8] in lead and buf[pos + 12] in lead) or (
            buf[pos] in high and buf[pos + 2] in high and buf[pos + 4] in high and buf[pos + 6] in high
        ):
            yield pos
        stop = find(b" ", pos)
        if stop < 0:
            return
        pos = find(_B64_NEEDLE, stop)


def _base64_and_hex(
    buf: bytes, budget: list[int], starts: list[int] | None = None
) -> Iterator[tuple[int, int, str, bytes]]:
    # Hot loop: runs of base64 characters (hashes, ids, paths) fill real files, so only runs
    # shaped like encoded text get here (found by the gate's Vectorscan patterns when it has
    # them, else by _shaped_runs), and the checks below are C-speed byte operations.
    size = len(buf)
    if starts is None:
        starts = _shaped_runs(buf, buf.translate(_B64_MAP))  # type: ignore[assignment]
    run_end = _B64_RUN.match
    candidates = 0
    for pos in starts:  # type: ignore[union-attr]
        if candidates >= budget[0]:
            break
        candidates += 1
        stop = run_end(buf, pos).end()
        if stop < size and buf[stop] == 0x3D:  # '=' padding
            stop += 2 if stop + 1 < size and buf[stop + 1] == 0x3D else 1
        token = buf[pos:stop]
        n = len(token)
        decoded: bytes | None = None
        encoding = "base64"
        if n > MAX_TOKEN:
            pass
        elif not token.translate(None, _HEX_DIGITS):
            if n >= MIN_HEX and not n & 1:
                highs = token[0::2]
                if len(highs.translate(None, _HEX_TEXT_HIGH)) * 10 <= len(highs):
                    decoded, encoding = binascii.unhexlify(token), "hex"
        else:
            leads = token[0::4]
            if (
                len(leads.translate(None, _B64_TEXT_LEAD)) * 10 <= len(leads)
                and len(token.translate(None, _DIGITS)) < n
            ):
                decoded = _decode_base64(token)
        if decoded is not None and _texty(decoded):
            budget[1] -= len(decoded)
            yield pos, stop, encoding, decoded
            if budget[1] <= 0:
                break
    budget[0] -= candidates


def next_percent_escape(buf: bytes, pos: int = 0) -> int:
    """Offset of the next ``%XX`` escape at or after ``pos``, or -1. A ``find`` for ``%``
    (memchr) then a check of two bytes: about ten times faster than a regex search over
    text that holds no ``%`` at all, which is most text."""
    find, match = buf.find, _PERCENT_ESCAPE.match
    pos = find(b"%", pos)
    while pos >= 0 and match(buf, pos) is None:
        pos = find(b"%", pos + 1)
    return pos


def _percent(buf: bytes, budget: list[int]) -> Iterator[tuple[int, int, str, bytes]]:
    pos = next_percent_escape(buf)
    last_end = -1
    while pos >= 0 and budget[0] > 0 and budget[1] > 0:
        budget[0] -= 1
        lo = max(last_end, pos - 2048, 0)
        back = _LAST_DELIMITER.match(buf, lo, pos)
        start = back.end() if back else lo
        end = _URL_RUN.match(buf, pos).end()
        decoded = unquote_to_bytes(buf[start:end])
        if len(decoded) >= 8:
            budget[1] -= len(decoded)
            yield start, end, "url", decoded
        last_end = end
        pos = next_percent_escape(buf, max(end, pos + 1))


def _json_escapes(buf: bytes, budget: list[int]) -> Iterator[tuple[int, int, str, bytes]]:
    pos = buf.find(b"\\")
    done_until = -1
    while pos >= 0 and budget[0] > 0 and budget[1] > 0:
        nxt = buf[pos + 1 : pos + 2]
        if pos < done_until or nxt not in (b"u", b"n", b"/"):
            pos = buf.find(b"\\", pos + 1)
            continue
        budget[0] -= 1
        line_start = buf.rfind(b"\n", max(0, pos - MAX_TOKEN), pos) + 1
        line_end = buf.find(b"\n", pos, pos + MAX_TOKEN)
        if line_end < 0:
            line_end = min(len(buf), pos + MAX_TOKEN)
        for m in _JSON_LITERAL.finditer(buf, line_start, line_end):
            literal = m.group(0)
            if b"\\u" not in literal and b"\\n" not in literal and b"\\/" not in literal:
                continue
            try:
                value = orjson.loads(literal)
            except orjson.JSONDecodeError:
                continue
            if isinstance(value, str) and len(value) >= 8:
                decoded = value.encode("utf-8", "surrogatepass")
                budget[1] -= len(decoded)
                yield m.start() + 1, m.end() - 1, "json-escape", decoded
        done_until = line_end
        pos = buf.find(b"\\", line_end)


def encoded_segments(
    buf: bytes, run_starts: list[int] | None = None, budget_size: int | None = None
) -> list[tuple[int, int, str, bytes]]:
    """Suspicious encoded tokens of ``buf`` and their decoded bytes, within the limits above.
    ``run_starts``: the shaped base64/hex runs, when a gate has already found them.
    ``budget_size``: the size the budget is based on (default: ``len(buf)``)."""
    size = len(buf) if budget_size is None else max(budget_size, len(buf))
    budget = [MAX_CANDIDATES + size // 32, MAX_DECODED_BYTES + size // 2]
    out = list(_base64_and_hex(buf, budget, run_starts))
    out.extend(_percent(buf, budget))
    out.extend(_json_escapes(buf, budget))
    return out
