"""Reading records back for people: every record of a log, oldest first, and simple filters.

This reads; it does not verify. ``mcpwarden log verify`` is the check that nothing was changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from mcpwarden.audit.files import snapshot, split_lines
from mcpwarden.errors import UsageError

_RELATIVE = re.compile(r"^([0-9]+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def read_records(log: str) -> Iterator[dict[str, Any]]:
    """Every record of ``log`` and its rotated files, oldest first (as of one moment, like
    ``log verify``: a rotation meanwhile neither fails the read nor drops records); torn or
    foreign lines are skipped."""
    contents, _head = snapshot(log)
    for _file, data in contents:
        lines, _torn = split_lines(data)
        for line in lines:
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(obj, dict) and "seq" in obj:
                yield obj


def parse_since(text: str, now: datetime | None = None) -> str:
    """``15m``, ``2h``, ``7d`` ago, or an ISO 8601 date/time (UTC unless it says otherwise), as
    the record timestamp format, so that records compare as strings."""
    now = now or datetime.now(UTC)
    match = _RELATIVE.match(text.strip())
    if match:
        try:
            moment = now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        except OverflowError:  # further back than a datetime reaches: every record
            return "0000-00-00T00:00:00.000Z"
    else:
        try:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise UsageError(
                f"--since {text!r}: give a duration like 15m, 2h, 7d or a date like 2026-11-21T08:00"
            ) from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class RecordFilter:
    server: str | None = None
    tool: str | None = None
    verdict: str | None = None
    event: str | None = None
    since: str | None = None
    """A timestamp in the records' own format (see parse_since)."""

    def matches(self, record: dict[str, Any]) -> bool:
        return (
            (self.server is None or record.get("server") == self.server)
            and (self.tool is None or record.get("tool") == self.tool)
            and (self.verdict is None or record.get("verdict") == self.verdict)
            and (self.event is None or record.get("event") == self.event)
            and (self.since is None or str(record.get("ts", "")) >= self.since)
        )
