"""Policy options of the detection guards (``detection:`` in the policy file).

    detection:
      arguments: block          # validated/pattern findings in what the client sends
      results: redact           # ... in what the server returns
      generic: warn             # keyword + entropy findings, either direction
      pii: warn                 # e-mails, phones, cards, IBANs, SSNs, IPs
      rules:                    # per rule id (globs allowed), beats the tier defaults
        jwt: {arguments: warn}
      allow_rules: ["sample-*"] # rule ids (globs) never reported
      baseline: .mcpwarden-baseline.json
      honeytokens: [{name: billing-canary, value: "AKIA..."}]
      servers:
        github:
          results: block
          tools:
            "read_*": {results: redact, allow_rules: [github-pat-*]}

Honeytokens are always blocked, whatever the actions say. An action is ``block`` (deny
the message), ``redact`` (replace each finding by ``[REDACTED:<rule>:<hash>]``), ``warn``
(let it pass and record a warning for the audit log) or ``off``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator

from mcpwarden.policy.base import StrictModel


def _yaml_off(value: Any) -> Any:
    """YAML 1.1 (PyYAML) reads an unquoted ``off`` as false: the action meant is ``off``."""
    return "off" if value is False else value


Action = Annotated[Literal["block", "redact", "warn", "off"], BeforeValidator(_yaml_off)]


class RuleActions(StrictModel):
    action: Action | None = Field(None, description="Action for this rule in both directions.")
    arguments: Action | None = Field(None, description="Action for this rule in what the client sends.")
    results: Action | None = Field(None, description="Action for this rule in what the server returns.")


class ToolDetection(StrictModel):
    arguments: Action | None = Field(None, description="Overrides the server's/top-level `arguments` action.")
    results: Action | None = Field(None, description="Overrides the server's/top-level `results` action.")
    allow_rules: list[str] = Field(default_factory=list, description="Rule ids (globs) not reported for this tool.")


class ServerDetection(StrictModel):
    enabled: bool | None = Field(None, description="Overrides the top-level `enabled` for this server.")
    arguments: Action | None = Field(None, description="Overrides the top-level `arguments` action.")
    results: Action | None = Field(None, description="Overrides the top-level `results` action.")
    generic: Action | None = Field(None, description="Overrides the top-level `generic` action.")
    pii: Action | None = Field(None, description="Overrides the top-level `pii` action.")
    rules: dict[str, RuleActions] = Field(default_factory=dict, description="Rule id (glob) -> actions.")
    allow_rules: list[str] = Field(default_factory=list, description="Rule ids (globs) not reported on this server.")
    tools: dict[str, ToolDetection] = Field(
        default_factory=dict, description="Tool name (glob) -> overrides; the first matching glob in order wins."
    )


class HoneytokenDeclaration(StrictModel):
    name: str = Field(..., min_length=1, description="A label shown in findings and alerts.")
    value: str = Field(..., min_length=8, description="The canary value; any appearance in any message is blocked.")
    kind: str = Field("custom", description="What the value imitates (aws, github, ...), for reports.")


class DetectionOptions(StrictModel):
    enabled: bool = Field(True, description="Scan arguments and results for secrets, PII and honeytokens.")
    arguments: Action = Field("block", description="What to do with validated/pattern findings in request arguments.")
    results: Action = Field("redact", description="What to do with validated/pattern findings in results.")
    generic: Action = Field("warn", description="What to do with generic (keyword + entropy) findings.")
    pii: Action = Field("warn", description="What to do with PII findings (e-mail, phone, card, IBAN, SSN, IP).")
    rules: dict[str, RuleActions] = Field(
        default_factory=dict, description="Rule id (glob) -> actions; beats the tier actions above."
    )
    allow_rules: list[str] = Field(default_factory=list, description="Rule ids (globs) never reported.")
    rule_files: list[str] = Field(
        default_factory=list, description="Extra rule files (mcpwarden or gitleaks TOML) added to the built-in rules."
    )
    builtin_rules: bool = Field(True, description="Load the built-in rules.")
    decode: bool = Field(True, description="Also scan base64/hex/percent/JSON-escaped tokens after decoding them.")
    baseline: str | None = Field(
        None, description="Baseline file of accepted findings (keyed hashes, from `mcpwarden scan --write-baseline`)."
    )
    key_file: str | None = Field(
        None,
        description="File holding the fingerprint key (needed with a baseline); $MCPWARDEN_DETECT_KEY wins.",
    )
    honeytokens: list[HoneytokenDeclaration] = Field(default_factory=list, description="Declared canary values.")
    honeytoken_store: str = Field(
        "~/.config/mcpwarden/honeytokens.json",
        description="Store file of minted honeytokens (`mcpwarden honeytoken new`); read if it exists.",
    )
    max_scan_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Messages larger than this are blocked instead of scanned."
    )
    max_warnings: int = Field(1000, ge=1, description="Warnings kept per session for the audit log (oldest dropped).")
    servers: dict[str, ServerDetection] = Field(default_factory=dict, description="Server name -> overrides.")

    @field_validator("honeytokens")
    @classmethod
    def _unique_names(cls, tokens: list[HoneytokenDeclaration]) -> list[HoneytokenDeclaration]:
        names = [t.name for t in tokens]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"honeytoken name(s) declared twice: {', '.join(dupes)}")
        return tokens
