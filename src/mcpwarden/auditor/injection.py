"""Text that tries to steer the model: used on skills and on tool descriptions. Heuristics,
written from published tool-poisoning and prompt-injection examples (facts, not rule files)."""

from __future__ import annotations

import re

_PHRASES: list[tuple[str, re.Pattern[str]]] = [
    (
        "ignore-instructions",
        re.compile(
            r"\b(?:ignore|disregard|forget)\s+(?:all\s+|any\s+)?(?:the\s+)?(?:previous|prior|above|earlier|preceding|other)\s+(?:instructions|prompts|rules|directions)",
            re.I,
        ),
    ),
    (
        "hide-from-user",
        re.compile(
            r"\b(?:do\s+not|don'?t|never)\s+(?:tell|inform|mention|show|reveal|notify|alert)\b[^.\n]{0,40}\buser\b|\bwithout\s+(?:telling|informing|asking|notifying)\s+the\s+user",
            re.I,
        ),
    ),
    ("important-tag", re.compile(r"<\s*(?:IMPORTANT|SYSTEM|system_prompt|instructions?)\s*>", re.I)),
    (
        "sensitive-files",
        re.compile(
            r"(?:~|\$HOME|/home/\w+|/Users/\w+)/\.(?:ssh|aws|gnupg|kube|docker|netrc)\b|\bid_(?:rsa|ed25519|ecdsa)\b|\.env\b.{0,30}\b(?:read|send|include|pass)",
            re.I,
        ),
    ),
    (
        "exfiltrate",
        re.compile(
            r"\bexfiltrat\w*|\bsend\s+(?:it|them|the\s+(?:contents?|keys?|tokens?|credentials?|secrets?))\s+to\s+https?://",
            re.I,
        ),
    ),
    (
        "impersonate-system",
        re.compile(r"\b(?:you\s+are\s+now|new\s+instructions?:|system\s+override|developer\s+mode\s+enabled)", re.I),
    ),
]
_HIDDEN = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\U000e0000-\U000e007f]")


def suspicious(text: str) -> list[tuple[str, int]]:
    """(reason, 1-based line) for each suspicious passage; at most one per reason."""
    found: list[tuple[str, int]] = []
    for reason, pattern in _PHRASES:
        match = pattern.search(text)
        if match:
            found.append((reason, text.count("\n", 0, match.start()) + 1))
    hidden = _HIDDEN.search(text)
    if hidden:
        found.append(("hidden-unicode", text.count("\n", 0, hidden.start()) + 1))
    return found
