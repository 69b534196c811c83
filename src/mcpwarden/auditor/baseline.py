"""A baseline: fingerprints of findings accepted earlier. Suppressed findings stay in every
report, marked suppressed, and do not fail CI. File format (JSON):

    {"version": 1, "generated": "...", "findings": [{"fingerprint": "...", "check": "AUD030",
     "path": "~/.claude.json", "server": "github", "note": "..."}]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from mcpwarden.auditor.files import MAX_SMALL_BYTES, Unreadable, read_text
from mcpwarden.auditor.model import Finding
from mcpwarden.errors import WardenError


class BaselineError(WardenError):
    """The baseline file cannot be read or is not a baseline."""


@dataclass
class Baseline:
    fingerprints: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, path: Path) -> Baseline:
        try:
            data = json.loads(read_text(path, 16 * MAX_SMALL_BYTES))
        except FileNotFoundError:
            raise BaselineError(f"{path}: baseline file not found (create one with --write-baseline)") from None
        except RecursionError:
            raise BaselineError(f"{path}: not a readable baseline: nested too deeply") from None
        except (Unreadable, ValueError) as exc:
            raise BaselineError(f"{path}: not a readable baseline: {exc}") from None
        if not isinstance(data, dict) or data.get("version") != 1 or not isinstance(data.get("findings"), list):
            raise BaselineError(f"{path}: not a baseline (expected version 1 and a 'findings' list)")
        return cls({str(f["fingerprint"]) for f in data["findings"] if isinstance(f, dict) and "fingerprint" in f})

    def apply(self, findings: list[Finding]) -> None:
        for finding in findings:
            finding.suppressed = finding.fingerprint in self.fingerprints


def write_baseline(path: Path, findings: list[Finding]) -> int:
    entries = [
        {
            "fingerprint": f.fingerprint,
            "check": f.check,
            "severity": f.severity,
            "client": f.client,
            "path": f.path,
            "server": f.server,
            "key": f.key,
        }
        for f in findings
    ]
    document = {"version": 1, "generated": datetime.now(UTC).isoformat(timespec="seconds"), "findings": entries}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return len(entries)
