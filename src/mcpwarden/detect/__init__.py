"""mcpwarden.detect: secrets, PII and honeytokens in text and JSON. Knows nothing of MCP.

from mcpwarden.detect import Engine, Finding, Redactor
engine = Engine.load()                    # built-in rules; Engine.load(extra=[paths]) adds files
findings = engine.scan_text(text)         # also scan_bytes(data), scan_json(obj), stream()
clean = Redactor().redact_text(text, findings)
"""

from mcpwarden.detect.engine import Engine
from mcpwarden.detect.finding import Finding
from mcpwarden.detect.honeytoken import HoneyToken
from mcpwarden.detect.redact import Redactor
from mcpwarden.detect.rule import Rule

__all__ = ["Engine", "Finding", "HoneyToken", "Redactor", "Rule"]
