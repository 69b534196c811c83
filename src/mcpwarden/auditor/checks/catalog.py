"""Every check: id, name, default severity, explanation and fix. Ids are stable; never reuse one."""

from __future__ import annotations

from dataclasses import dataclass

from mcpwarden.auditor.model import Severity


@dataclass(frozen=True)
class CheckInfo:
    id: str
    name: str
    severity: Severity
    title: str
    explanation: str
    fix: str


_CHECKS = [
    CheckInfo(
        "AUD001",
        "config-unreadable",
        "medium",
        "A config file could not be read or parsed",
        "The client will fail to load this file or load it differently from what you expect, and the "
        "auditor cannot vouch for what it holds (malformed, too large, not UTF-8, a symlink loop).",
        "Fix the syntax at the line shown, or remove the file if it is not meant to be there.",
    ),
    CheckInfo(
        "AUD010",
        "filesystem-root-too-broad",
        "high",
        "A filesystem-like server is given a very broad root",
        "A server that reads and writes files was given /, a home directory or a drive root, so a prompt "
        "injection can read SSH keys, tokens and browser profiles, or change any of your files.",
        "Give the server only the project directories it needs, or run it through `mcpwarden protect`, "
        "whose policy limits its sandbox to named paths.",
    ),
    CheckInfo(
        "AUD020",
        "plaintext-secret",
        "high",
        "A secret is written in plaintext in a config",
        "Tokens in env, args, headers, URLs or env files are readable by every program that can read the "
        "file, end up in backups and dotfile repositories, and args are visible to all users in the process list.",
        "Rotate the secret, then reference it from the environment (${VAR}) or from mcpwarden's `secrets:` "
        "(env:, file:, keyring:) instead of writing it in the file.",
    ),
    CheckInfo(
        "AUD021",
        "secret-forwarded",
        "low",
        "A secret-named variable is forwarded to a server",
        "The server receives a credential from your environment. That may be intended, but every tool of "
        "the server can now use or leak it.",
        "Forward only the credential the server needs, with the narrowest scope; under mcpwarden, declare "
        "it in the server's `secrets:` so it is audited.",
    ),
    CheckInfo(
        "AUD022",
        "secret-prompt-in-clear",
        "low",
        "A secret is prompted for without hiding it",
        "A VS Code input that feeds a secret-named variable lacks `password: true`, so the secret is shown "
        "while typed and may be kept in clear in the editor's state.",
        'Add `"password": true` to the input.',
    ),
    CheckInfo(
        "AUD030",
        "unpinned-package",
        "medium",
        "A server package or image is not pinned",
        "`npx -y pkg`, `@latest`, `uvx pkg` without a version and image tags without a digest fetch whatever "
        "is published at start-up; a compromised release runs with your rights at the next start.",
        "Pin an exact version (pkg@1.2.3, pkg==1.2.3) or an image digest (image@sha256:...).",
    ),
    CheckInfo(
        "AUD040",
        "insecure-remote-url",
        "high",
        "A remote server is reached over plain http://",
        "Traffic, including tokens and tool results, can be read and changed on the network.",
        "Use https://, or keep http:// only for 127.0.0.1/localhost.",
    ),
    CheckInfo(
        "AUD041",
        "remote-without-auth",
        "low",
        "A remote server is configured without credentials",
        "No header, token or OAuth setting is configured; if the server really needs none, anyone who can "
        "reach it can call its tools too.",
        "Check that the server requires authentication (OAuth or a bearer token kept outside the file).",
    ),
    CheckInfo(
        "AUD042",
        "script-in-writable-place",
        "medium",
        "A server runs from a temporary or world-writable place",
        "Anyone (or any process) that can write there can replace the server before the next start.",
        "Install the server in a directory only you can write, or use a pinned package.",
    ),
    CheckInfo(
        "AUD043",
        "typosquat",
        "high",
        "A package name is one typo away from a well-known server",
        "Typosquatted packages imitate popular MCP servers to run code on developer machines.",
        "Check the package name letter by letter against the publisher's documentation.",
    ),
    CheckInfo(
        "AUD050",
        "runs-command",
        "medium",
        "A config field runs a command",
        "headersHelper, apiKeyHelper, hooks and skill `!`cmd`` lines run shell commands with your rights "
        "whenever the client starts, connects or loads the skill.",
        "Make sure you know and trust the command; keep it in a file only you can write.",
    ),
    CheckInfo(
        "AUD060",
        "confirmations-disabled",
        "high",
        "Confirmations are switched off",
        "bypassPermissions, skipDangerousModePermissionPrompt, Gemini `trust: true`, Codex "
        '`approval_policy = "never"` / `danger-full-access` and broad `mcp__*` allow rules let the model '
        "run tools without asking, so one injected instruction acts at once.",
        "Turn confirmations back on; allow only specific read-only tools (mcp__server__tool).",
    ),
    CheckInfo(
        "AUD070",
        "bypasses-mcpwarden",
        "medium",
        "A server runs without mcpwarden",
        "Its calls are not checked, audited or sandboxed.",
        "Run `mcpwarden protect` (stdio servers). HTTP servers cannot be wrapped until the HTTP front exists.",
    ),
    CheckInfo(
        "AUD080",
        "unused-server",
        "low",
        "A server is configured but never used",
        "Neither mcpwarden's audit log nor Claude Code's session transcripts show a call to it; an unused "
        "server still runs, holds credentials and widens what an injection can reach.",
        "Remove it, or disable it until you need it.",
    ),
    CheckInfo(
        "AUD090",
        "readable-by-others",
        "high",
        "A config or token file is readable by other users",
        "Other local users (and services running as them) can read the credentials and settings in it.",
        "chmod 600 the file (and 700 its directory).",
    ),
    CheckInfo(
        "AUD100",
        "skill-broad-tools",
        "high",
        "A skill allows every command",
        "allowed-tools such as Bash(*) or Bash lets the skill run any shell command without asking.",
        "List the exact commands the skill needs, e.g. Bash(git status:*).",
    ),
    CheckInfo(
        "AUD101",
        "skill-name-mismatch",
        "low",
        "A skill's name does not match its folder",
        "The Agent Skills format requires the frontmatter name to equal the directory name; a mismatch "
        "is how a skill impersonates another.",
        "Rename the folder or the `name:` so they match.",
    ),
    CheckInfo(
        "AUD102",
        "skill-injection-text",
        "high",
        "A skill contains instructions aimed at the model's safeguards",
        "Text such as 'ignore previous instructions', hidden Unicode or 'do not tell the user' is a hallmark "
        "of prompt injection hidden in a skill.",
        "Read the skill in full; remove it unless you wrote it.",
    ),
    CheckInfo(
        "AUD103",
        "skill-pipe-to-shell",
        "high",
        "A skill's script pipes a download into a shell",
        "`curl ... | sh` runs whatever the server returns today, unverified.",
        "Download, verify (checksum or signature), then run; or vendor the script.",
    ),
    CheckInfo(
        "AUD110",
        "poisoned-tool-description",
        "high",
        "A tool description holds hidden instructions",
        "A pinned or cached tool list contains a description that tells the model to do something the user "
        "did not ask (read secrets, hide actions, call other tools).",
        "Do not approve this tool list; remove the server or pin a clean version.",
    ),
    CheckInfo(
        "AUD120",
        "policy-invalid",
        "high",
        "An mcpwarden policy is invalid",
        "`mcpwarden run` refuses to start with this policy, so the wrapped servers do not start.",
        "Fix the key named in the message; `mcpwarden policy check FILE` shows all problems.",
    ),
    CheckInfo(
        "AUD121",
        "policy-allow-all-role",
        "medium",
        "A role grants every server and tool",
        "A principal with this role can call any tool on any server; roles exist to narrow that.",
        "Grant named servers and tools only.",
    ),
    CheckInfo(
        "AUD122",
        "policy-http-without-auth",
        "high",
        "The HTTP front listens off loopback without authentication",
        "Anyone who can reach the port can call every tool.",
        "Bind 127.0.0.1, or require bearer tokens / OAuth for the HTTP front.",
    ),
    CheckInfo(
        "AUD123",
        "policy-monitor-mode",
        "medium",
        "A policy is in monitor mode",
        "Monitor mode records what would be denied and denies nothing.",
        "Set `mode: enforce` once the audit log shows no false denials.",
    ),
    CheckInfo(
        "AUD124",
        "policy-audit-off",
        "medium",
        "A policy turns the audit log off",
        "Without the audit log there is no record of what tools did, and unused-server checks go blind.",
        "Set `audit.enabled: true`.",
    ),
    CheckInfo(
        "AUD130",
        "introspection-failed",
        "low",
        "A server could not be introspected",
        "With --introspect the auditor starts each server inside mcpwarden's sandbox to list its tools. This one "
        "did not give a tool list (it failed to start, timed out, or the sandbox refused it), so its tool "
        "descriptions were not checked.",
        "Read the reason; check that the command exists and starts offline, raise --introspect-timeout, or give "
        "the sandbox what it needs (`mcpwarden doctor`).",
    ),
]

CATALOG: dict[str, CheckInfo] = {c.id: c for c in _CHECKS}


def info(check_id: str) -> CheckInfo:
    return CATALOG[check_id]
