"""Skills: AUD100 over-broad allowed-tools, AUD101 name not matching the folder, AUD102
injection text, AUD103 bundled scripts that pipe a download into a shell."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from mcpwarden.auditor.checks.context import Context
from mcpwarden.auditor.files import MAX_SMALL_BYTES, Unreadable, read_text
from mcpwarden.auditor.injection import suspicious
from mcpwarden.auditor.model import ConfigFile, Finding, Inventory

_BROAD = re.compile(r"^(?:\*|Bash|Bash\(\s*\*?\s*(?::\s*\*)?\s*\)|Bash\(\*\s*\*\)|PowerShell(?:\(\*\))?|mcp__\*.*)$")
_PIPE_SHELL = re.compile(
    r"\b(?:curl|wget|iwr|Invoke-WebRequest|fetch)\b[^\n|]*\|\s*(?:sudo\s+)?(?:ba|z|da|k)?sh\b"
    r"|\b(?:curl|wget)\b[^\n|]*\|\s*(?:sudo\s+)?python[0-9.]*\b"
    r"|\biex\s*\(\s*(?:iwr|Invoke-WebRequest|New-Object\s+Net\.WebClient)"
    r"|\b(?:ba)?sh\s+-c\s+\"?\$\((?:curl|wget)\b"
    r"|\b(?:ba)?sh\s+<\(\s*(?:curl|wget)\b",
    re.I,
)
SCRIPT_NAMES_SUFFIXES = (".sh", ".bash", ".zsh", ".py", ".js", ".mjs", ".ts", ".ps1", ".rb", ".pl", ".md")


def allowed_tools(value: object) -> list[str]:
    """allowed-tools as a list: a YAML list, or a string split on spaces/commas outside parentheses."""
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    if not isinstance(value, str):
        return []
    out, depth, current = [], 0, ""
    for ch in value:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if ch in " ,\t\n" and depth == 0:
            if current.strip():
                out.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        out.append(current.strip())
    return out


def _scripts(skill_dir: Path) -> list[Path]:
    found: list[Path] = []
    for directory, _dirs, files in _bounded_walk(skill_dir):
        found += [directory / f for f in sorted(files) if f.endswith(SCRIPT_NAMES_SUFFIXES)]
    return found[:200]


def _bounded_walk(root: Path, max_depth: int = 3, limit: int = 2000) -> Iterator[tuple[Path, list[str], list[str]]]:
    import os

    count = 0
    for directory, dirs, files in os.walk(root, followlinks=False):
        depth = len(Path(directory).relative_to(root).parts)
        if depth >= max_depth:
            dirs[:] = []
        count += len(files) + len(dirs)
        yield Path(directory), dirs, files
        if count > limit:
            return


def _check_skill(config: ConfigFile, ctx: Context) -> Iterator[Finding]:
    data = config.data if isinstance(config.data, dict) else {}
    folder = config.path.parent.name
    name = data.get("name")
    if config.data is not None and name != folder:
        yield ctx.finding(
            "AUD101", config, ("name",), f"skill name '{name}' does not match its folder '{folder}'", detail=f"{name}"
        )
    for key in ("allowed-tools", "allowed_tools"):
        for tool in allowed_tools(data.get(key)):
            if _BROAD.match(tool):
                yield ctx.finding("AUD100", config, (key,), f"skill '{folder}' allows '{tool}'", detail=tool)
    if config.text:
        for reason, line in suspicious(config.text):
            yield ctx.finding(
                "AUD102",
                config,
                (),
                f"skill '{folder}' holds {reason.replace('-', ' ')} text",
                detail=reason,
                line=line,
            )
    for script in _scripts(config.path.parent):
        try:
            text = read_text(script, MAX_SMALL_BYTES)
        except (FileNotFoundError, Unreadable):
            continue
        match = _PIPE_SHELL.search(text)
        if match:
            line = text.count("\n", 0, match.start()) + 1
            script_file = ConfigFile(client="skills", scope=config.scope, path=script, kind="text")
            yield ctx.finding(
                "AUD103",
                script_file,
                (),
                f"{script.name} in skill '{folder}' pipes a download into a shell",
                detail=script.name,
                line=line,
            )


def check(inventory: Inventory, ctx: Context) -> Iterator[Finding]:
    for config in inventory.files:
        if config.client == "skills" and config.kind == "markdown" and config.text is not None:
            yield from _check_skill(config, ctx)
