"""Risk presets: a starting policy entry (ServerSettings-shaped dict) for each kind of server
and skill. ``protect`` uses the server presets; skill_policy.py uses the skill presets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mcpwarden.auditor.checks.args import arg_values, basename, package_spec
from mcpwarden.auditor.checks.filesystem import broad_root, is_filesystem_like
from mcpwarden.auditor.model import ServerEntry

# Hosts a visual-design skill may fetch assets from (fonts, icons, images, CDNs of web libraries).
ASSET_HOSTS = [
    "fonts.googleapis.com",
    "fonts.gstatic.com",
    "cdn.jsdelivr.net",
    "unpkg.com",
    "cdnjs.cloudflare.com",
    "images.unsplash.com",
    "api.iconify.design",
]
# Well-known API servers and the hosts they need.
API_HOSTS: dict[str, list[str]] = {
    "github": ["api.github.com", "github.com", "uploads.github.com"],
    "gitlab": ["gitlab.com"],
    "slack": ["slack.com", "*.slack.com"],
    "brave-search": ["api.search.brave.com"],
    "sentry": ["sentry.io", "*.sentry.io"],
    "notion": ["api.notion.com"],
    "stripe": ["api.stripe.com"],
    "google-maps": ["maps.googleapis.com"],
    "context7": ["context7.com", "*.context7.com"],
}
_PATHLIKE = re.compile(r"^(?:/|~|[A-Za-z]:[\\/]|\./|\.\./)")


def _expand(path: str, home: Path) -> str:
    if path == "~" or path.startswith("~/"):
        return str(home) + path[1:]
    return path


def path_args(server: ServerEntry, home: Path) -> tuple[list[str], list[str]]:
    """(paths named in the server's arguments, broad roots left out)."""
    kept: list[str] = []
    dropped: list[str] = []
    for _i, flag, value in arg_values(server.args):
        if not _PATHLIKE.match(value) or (flag is None and value.startswith("-")):
            continue
        if broad_root(value, str(home)):
            dropped.append(value)
        else:
            expanded = _expand(value, home)
            if expanded not in kept:
                kept.append(expanded)
    return kept, dropped


def server_kind(server: ServerEntry) -> str:
    spec = package_spec(server)
    text = " ".join([server.name, basename(server.command), spec[1] if spec else ""]).lower()
    if is_filesystem_like(server):
        return "filesystem"
    if "sqlite" in text:
        return "sqlite"
    if "memory" in text:
        return "memory"
    if "git" in text and "github" not in text and "gitlab" not in text:
        return "git"
    for api in API_HOSTS:
        if api in text:
            return f"api:{api}"
    if any(word in text for word in ("fetch", "puppeteer", "playwright", "browser", "search")):
        return "web"
    if "time" in text or "sequential-thinking" in text or "everything" in text:
        return "offline"
    return "unknown"


REGISTRY_HOSTS = {"npm": ["registry.npmjs.org"], "pypi": ["pypi.org", "files.pythonhosted.org"]}
_CONTAINER_RUNTIMES = {"docker", "podman", "nerdctl"}
_INTERPRETERS = {"node", "python", "python3", "deno", "bun", "ruby", "perl", "bash", "sh"}


def _program_dirs(server: ServerEntry, home: Path) -> list[str]:
    """Directories the server's own program needs to be readable: the script an interpreter runs."""
    if basename(server.command) not in _INTERPRETERS:
        return []
    script = next((a for a in server.args if not a.startswith("-")), None)
    if script and _PATHLIKE.match(script):
        return [str(Path(_expand(script, home)).parent)]
    return []


def _with_registry(entry: dict[str, Any], server: ServerEntry) -> dict[str, Any]:
    """A server fetched by npx/uvx at start needs its package registry, or it cannot start."""
    spec = package_spec(server)
    network = entry.get("network")
    if spec is None or network is None:
        return entry
    hosts = REGISTRY_HOSTS[spec[0]]
    if network == "none":
        entry["network"] = {"allow": list(hosts)}
    elif isinstance(network, dict):
        entry["network"] = {"allow": [*network["allow"], *(h for h in hosts if h not in network["allow"])]}
    return entry


def _with_program(entry: dict[str, Any], server: ServerEntry, home: Path) -> dict[str, Any]:
    fs = entry.get("filesystem")
    if isinstance(fs, dict):
        extra = [d for d in _program_dirs(server, home) if d not in fs.get("read", [])]
        if extra:
            fs["read"] = [*fs.get("read", []), *extra]
    return entry


def server_preset(server: ServerEntry, home: Path) -> tuple[str, dict[str, Any], list[str]]:
    """(preset name, policy entry, notes). The entry parses as a ServerPolicy. Servers fetched
    at start by npx/uvx keep their package registry reachable; the script an interpreter runs
    stays readable; container runtimes get no sandbox keys (the container is their sandbox)."""
    if basename(server.command) in _CONTAINER_RUNTIMES:
        return "container", {}, ["runs in a container; mcpwarden's sandbox is not applied to it"]
    name, entry, notes = _base_preset(server, home)
    return name, _with_program(_with_registry(entry, server), server, home), notes


def _base_preset(server: ServerEntry, home: Path) -> tuple[str, dict[str, Any], list[str]]:
    kind = server_kind(server)
    paths, dropped = path_args(server, home)
    notes = [f"left out the broad root {d}: give the server a narrower directory" for d in dropped]
    if kind == "filesystem":
        entry: dict[str, Any] = {"tools": {"read_only": False}, "network": "none"}
        if paths:
            entry["filesystem"] = {"write": paths}
        return "filesystem", entry, notes
    if kind in ("git", "sqlite"):
        entry = {"network": "none"}
        if paths:
            entry["filesystem"] = {"write": paths}
        return kind, entry, notes
    if kind in ("memory", "offline"):
        return kind, {"network": "none"}, notes
    if kind.startswith("api:"):
        return kind, {"network": {"allow": API_HOSTS[kind[4:]]}}, notes
    if kind == "web":
        return "web", {}, notes
    return "unknown", {}, notes


SKILL_PRESETS: dict[str, dict[str, Any]] = {
    # documents: their directories only, no network
    "documents": {"network": "none", "filesystem": {"read": ["{documents}"], "write": ["{documents}"]}},
    # visual design: network only to allowlisted asset hosts, output directory writable
    "visual-design": {"network": {"allow": ASSET_HOSTS}, "filesystem": {"write": ["{output}"]}},
    # test-driven development: write the tests directory, read sources
    "tdd": {"network": "none", "filesystem": {"read": ["{project}"], "write": ["{tests}"]}},
    # generative art: no network, output directory only
    "generative-art": {"network": "none", "filesystem": {"write": ["{output}"]}},
    # memory: its own store only
    "memory": {"network": "none", "filesystem": {"write": ["{memory}"]}},
}
