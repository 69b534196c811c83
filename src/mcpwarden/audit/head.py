"""The head file: an anchor outside the log that holds the last record's seq and digest.

It sits beside the log (``audit.jsonl.head``), has a fixed size and is rewritten in place with
one ``pwrite`` per record, after the record's line is written. The head file is also the lock
that serialises writers (``flock``), so several processes may share one log.

Without it, removing records from the end of the log would leave a valid, shorter chain.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from mcpwarden.audit.chain import FORMAT_VERSION, GENESIS, Chain
from mcpwarden.errors import AuditError

HEAD_SIZE = 320
HEAD_SUFFIX = ".head"


@dataclass(frozen=True, slots=True)
class HeadState:
    """Where the chain ends. ``seq`` is -1 for a chain with no record yet."""

    seq: int = -1
    hash: str = GENESIS
    end: int = 0
    """Byte offset just past the last record in the current file."""
    generation: int = 1
    """Number of the current file; a rotated file is renamed to ``<log>.<generation>``."""
    algorithm: str | None = None
    key_id: str | None = None
    mac: str | None = None

    @property
    def empty(self) -> bool:
        return self.seq < 0


class HeadEncoder:
    """Builds the head file's bytes for one chain; called once per record, so kept cheap."""

    __slots__ = ("_chain", "_template")

    def __init__(self, chain: Chain) -> None:
        self._chain = chain
        kid = f'"{chain.key_id}"' if chain.key_id else "null"
        self._template = (
            f'{{"v":{FORMAT_VERSION},"seq":%d,"hash":"%s","end":%d,"gen":%d,'
            f'"alg":"{chain.algorithm}","kid":{kid},"mac":%s}}'
        ).encode("ascii")

    def encode(self, seq: int, last_hash: str, end: int, generation: int) -> bytes:
        mac = self._chain.head_mac(seq, last_hash, generation)
        mac_field = b'"%s"' % mac.encode("ascii") if mac else b"null"
        raw = self._template % (seq, last_hash.encode("ascii"), end, generation, mac_field)
        if len(raw) >= HEAD_SIZE:  # cannot happen with the fields above; guards the fixed layout
            raise AuditError(f"head record is {len(raw)} bytes, more than the fixed {HEAD_SIZE - 1}")
        return raw.ljust(HEAD_SIZE - 1) + b"\n"


def encode_head(state: HeadState, chain: Chain) -> bytes:
    return HeadEncoder(chain).encode(state.seq, state.hash, state.end, state.generation)


def decode_head(raw: bytes, where: str) -> HeadState:
    """Parse a head file's bytes; an empty file is an empty chain."""
    if not raw.strip(b" \n\0"):
        return HeadState()
    try:
        obj = orjson.loads(raw.rstrip(b" \n\0"))
        if not isinstance(obj, dict) or obj.get("v") != FORMAT_VERSION:
            raise ValueError("not a version-1 head record")
        state = HeadState(
            seq=int(obj["seq"]),
            hash=str(obj["hash"]),
            end=int(obj["end"]),
            generation=int(obj["gen"]),
            algorithm=obj.get("alg"),
            key_id=obj.get("kid"),
            mac=obj.get("mac"),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise AuditError(f"head file {where} is unreadable ({exc}); it was damaged or edited") from exc
    if state.seq < -1 or state.end < 0 or state.generation < 1 or len(state.hash) != 64:
        raise AuditError(f"head file {where} holds impossible values; it was damaged or edited")
    return state


def head_path(log_path: str) -> str:
    return log_path + HEAD_SUFFIX
