"""One module per MCP client: where its files are, how its server entries read, and which
servers actually load. Each exposes ``discover(target) -> Discovered``."""

from __future__ import annotations

CLIENT_MODULES: dict[str, str] = {
    "claude-code": "claude_code",
    "claude-desktop": "claude_desktop",
    "cursor": "cursor",
    "vscode": "vscode",
    "windsurf": "windsurf",
    "gemini": "gemini",
    "codex": "codex",
    "mcpwarden": "mcpwarden_policy",
    "skills": "skills",
}
