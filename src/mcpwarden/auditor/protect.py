"""``protect``: rewrite client configs so each stdio server runs through ``mcpwarden run``,
with a starting policy per client; ``unprotect``: undo it.

Every changed file is backed up first, and the manifest records each edit (the entry's text
before and after). ``unprotect`` writes the backup back when the file is as ``protect`` left
it (byte for byte); if the file changed since, it reverses only the recorded edits.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from mcpwarden.auditor import jsonc, rewrite
from mcpwarden.auditor.files import read_text
from mcpwarden.auditor.model import Inventory, ServerEntry
from mcpwarden.auditor.presets import server_preset
from mcpwarden.auditor.secrets import SecretScanner, is_secret_name
from mcpwarden.auditor.wrapping import gateway_args, policy_of, wrap
from mcpwarden.errors import WardenError

PROTECTABLE = ("claude-code", "claude-desktop", "cursor", "vscode", "windsurf", "gemini", "codex")
MANIFEST_VERSION = 1


class ProtectError(WardenError):
    """protect or unprotect could not change a file safely; nothing was half-written."""


def state_dir(home: Path) -> Path:
    return home / ".config" / "mcpwarden"


def policy_name(name: str) -> str:
    """A client's server name as a policy server name (letters, digits, '-', '_', '.')."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")
    return cleaned or "server"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class FilePlan:
    path: Path
    client: str
    before: str
    after: str
    edits: list[rewrite.Edit]


@dataclass
class Plan:
    files: list[FilePlan] = field(default_factory=list)
    policies: dict[str, tuple[Path, str]] = field(default_factory=dict)  # client -> (path, YAML text)
    skipped: list[str] = field(default_factory=list)  # why a server was left as it is, by design
    failed: list[str] = field(default_factory=list)  # servers that should be wrapped but could not be
    wrapped_already: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    servers: list[ServerEntry] = field(default_factory=list)  # every server of the files that change

    @property
    def changes(self) -> bool:
        return bool(self.files)


SHARED_SCOPES = ("project", "workspace")


def _skip_reason(server: ServerEntry, projects: set[Path]) -> str | None:
    if server.client not in PROTECTABLE:
        return "not a client config"
    if server.scope in SHARED_SCOPES and server.file.project not in projects:
        return "lives in a project file others share; pass --project DIR to wrap it"
    if server.scope == "managed":
        return "managed by an administrator (system file)"
    if server.scope == "plugin":
        return "comes from a plugin (rewritten on plugin update); wrap it in the plugin itself"
    if server.scope == "devcontainer":
        return "runs inside a dev container, where mcpwarden is not installed"
    if server.transport != "stdio":
        return "remote (HTTP/SSE) server: mcpwarden has no HTTP front yet"
    if not server.command:
        return "no command"
    if server.file.error or server.file.text is None:
        return f"its file could not be read ({server.file.error})"
    return None


def _wrapped_entry(server: ServerEntry, policy: Path, name: str, executable: str) -> tuple[str, list[str]]:
    assert server.command is not None
    return wrap(server.command, server.args, str(policy), name, executable)


def _policy_server_of(server: ServerEntry) -> tuple[str, str] | None:
    """(policy path, --server name) of an entry already wrapped, as its raw entry gives them."""
    command = server.raw.get("command")
    args = [a for a in server.raw.get("args") or [] if isinstance(a, str)]
    rest = gateway_args(command if isinstance(command, str) else None, args) or []
    rest = rest[: rest.index("--")] if "--" in rest else rest
    policy = policy_of(command if isinstance(command, str) else None, args)
    for i, arg in enumerate(rest):
        if arg == "--server" and i + 1 < len(rest) and policy:
            return policy, rest[i + 1]
        if arg.startswith("--server=") and policy:
            return policy, arg.split("=", 1)[1]
    return None


def _unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name-2``, ``name-3``... when another server of the same policy has it."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}-{n}"
    taken.add(candidate)
    return candidate


def _policy_text(client: str, path: Path, servers: dict[str, dict[str, Any]]) -> str:
    existing: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = yaml.safe_load(read_text(path))
            existing = loaded if isinstance(loaded, dict) else {}
        except (yaml.YAMLError, OSError, Exception):  # an unreadable old policy is replaced, after a backup
            existing = {}
    document: dict[str, Any] = {"version": 1, "mode": "enforce"}
    document.update({k: v for k, v in existing.items() if k != "servers"})
    merged = dict(existing.get("servers") or {}) if isinstance(existing.get("servers"), dict) else {}
    for name, entry in servers.items():
        merged.setdefault(name, entry)
    document["servers"] = merged
    header = (
        f"# mcpwarden policy for {client}, written by `mcpwarden protect`.\n"
        "# A starting point from risk presets: tighten it, then check it with `mcpwarden policy check`.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


def plan_protect(
    inventory: Inventory, clients: list[str] | None, executable: str, projects: list[Path] | None = None
) -> Plan:
    """What protect would change. Project files (.mcp.json, .vscode, .cursor in a repository) are
    shared with others, so only those of ``projects`` are rewritten."""
    from mcpwarden.policy.loader import parse_policy

    plan = Plan()
    policy_dir = state_dir(inventory.home) / "policies"
    by_file: dict[Path, list[ServerEntry]] = {}
    policy_servers: dict[str, dict[str, dict[str, Any]]] = {}
    # Two servers of one client (the same name in two scopes, or names that clean up alike) must
    # not share a policy entry: each would run under the other's sandbox. Names that entries
    # wrapped earlier point at are taken too.
    taken: dict[str, set[str]] = {}
    names: dict[int, str] = {}
    for server in inventory.servers:
        found = _policy_server_of(server) if server.wrapped else None
        if found and Path(found[0]).expanduser() == policy_dir / f"{server.client}.yaml":
            taken.setdefault(server.client, set()).add(found[1])
    for server in inventory.servers:
        if clients and server.client not in clients:
            continue
        if server.wrapped:
            plan.wrapped_already.append(server.label)
            continue
        reason = _skip_reason(server, set(projects or []))
        if reason:
            if server.client in PROTECTABLE:
                plan.skipped.append(f"{server.label}: {reason}")
            continue
        by_file.setdefault(server.file.path, []).append(server)
        _preset, entry, notes = server_preset(server, inventory.home)
        plan.notes += [f"{server.label}: {note}" for note in notes]
        name = names[id(server)] = _unique_name(policy_name(server.name), taken.setdefault(server.client, set()))
        policy_servers.setdefault(server.client, {}).setdefault(name, entry)
    for path, servers in by_file.items():
        config = servers[0].file
        assert config.text is not None
        policy = policy_dir / f"{config.client}.yaml"
        edits: list[rewrite.Edit] = []
        index = jsonc.JsonIndex(config.text) if config.kind != "toml" else None
        for server in servers:
            command, args = _wrapped_entry(server, policy, names[id(server)], executable)
            try:
                if config.kind == "toml":
                    edits.append(
                        rewrite.toml_entry_edit(config.text, tuple(map(str, server.key)), command, args, server.name)
                    )
                else:
                    new_entry = dict(server.raw)
                    new_entry["command"] = command
                    new_entry["args"] = args
                    edits.append(rewrite.json_entry_edit(config.text, server.key, new_entry, server.name, index))
            except rewrite.RewriteError as exc:
                plan.failed.append(f"{server.label}: cannot rewrite safely: {exc}")
        if not edits:
            continue
        after = rewrite.apply(config.text, edits)
        _verify(config.kind, after, servers, edits)
        plan.files.append(FilePlan(path, config.client, config.text, after, edits))
    changing = {file.path for file in plan.files}
    plan.servers = [server for server in inventory.servers if server.file.path in changing]
    for client, servers in policy_servers.items():
        if not any(f.client == client for f in plan.files):
            continue
        path = policy_dir / f"{client}.yaml"
        text = _policy_text(client, path, servers)
        parse_policy(text, str(path))  # fail closed: never write a policy `mcpwarden run` would refuse
        plan.policies[client] = (path, text)
    return plan


def _verify(kind: str, text: str, servers: list[ServerEntry], edits: list[rewrite.Edit]) -> None:
    """Re-read the rewritten text: it must parse, and each edited entry must now be wrapped."""
    from mcpwarden.auditor.clients.common import get_path
    from mcpwarden.auditor.files import parse_text

    data, error = parse_text(text, kind)
    if error:
        raise ProtectError(f"{servers[0].file.path}: the rewritten file would not parse ({error}); nothing written")
    edited = {e.server for e in edits}
    for server in servers:
        if server.name not in edited:
            continue
        entry = get_path(data, server.key)
        if not isinstance(entry, dict) or gateway_args(entry.get("command"), entry.get("args") or []) is None:
            raise ProtectError(
                f"{server.file.path}: rewriting '{server.name}' did not give a wrapped entry; nothing written"
            )


_VALUE = re.compile(r"""(?P<q>["']?)(?P<key>[A-Za-z0-9_.-]+)(?P=q)\s*[:=]\s*(?P<v>"(?:[^"\\]|\\.)*"|'[^']*')""")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def redact_line(line: str, scanner: SecretScanner) -> str:
    """A diff line with secret values replaced, so a dry run never prints one."""

    def key_value(match: re.Match[str]) -> str:
        raw = match.group("v")[1:-1]
        if scanner.kind(raw, match.group("key")) or (is_secret_name(match.group("key")) and len(raw) >= 8):
            return match.group(0).replace(raw, "[REDACTED]")
        return match.group(0)

    line = _VALUE.sub(key_value, line)
    return _STRING.sub(lambda m: '"[REDACTED]"' if scanner.kind(m.group(1)) else m.group(0), line)


def _secret_values(servers: list[ServerEntry], scanner: SecretScanner) -> list[str]:
    """The values the audit reports as plaintext secrets (AUD020), in every form a file may
    hold them, longest first: an argument is judged with the flag before it, which a diff
    line alone does not show."""
    from mcpwarden.auditor.checks.args import arg_values

    found: set[str] = set()
    for server in servers:
        pairs = [*((v, n) for n, v in server.env.items()), *((v, n) for n, v in server.headers.items())]
        pairs += [(v, (f or "").lstrip("-").replace("-", "_") or None) for _i, f, v in arg_values(server.args)]
        pairs += [(server.url, None)] if server.url else []
        for value, name in pairs:
            if isinstance(value, str) and len(value) >= 4 and scanner.kind(value, name):
                found.update({value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]})
    return sorted(found, key=len, reverse=True)


def diff(plan: Plan, display: Any = str) -> str:
    scanner = SecretScanner()
    secrets = _secret_values(plan.servers, scanner)

    def hide(line: str) -> str:
        for value in secrets:
            line = line.replace(value, "[REDACTED]")
        return redact_line(line, scanner)

    out: list[str] = []
    for file in plan.files:
        name = display(file.path)
        lines = difflib.unified_diff(
            file.before.splitlines(keepends=True),
            file.after.splitlines(keepends=True),
            f"{name} (now)",
            f"{name} (protected)",
        )
        out += [hide(line if line.endswith("\n") else line + "\n") for line in lines]
    for client, (path, text) in plan.policies.items():
        out.append(f"--- policy for {client}: {display(path)}\n")
        out += [f"+{line}\n" for line in text.splitlines()]
    return "".join(out)


def write_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace the file's content in one step. A symlinked config keeps its link: the target is written."""
    real = Path(os.path.realpath(path))
    real.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        try:
            mode = real.stat().st_mode & 0o7777
        except OSError:
            mode = 0o600
    fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".mcpwarden-tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, real)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class Manifest:
    """``~/.config/mcpwarden/protect/manifest.json``: what protect changed, and how to undo it."""

    def __init__(self, home: Path):
        self.dir = state_dir(home) / "protect"
        self.path = self.dir / "manifest.json"
        self.data: dict[str, Any] = {"version": MANIFEST_VERSION, "files": {}}
        if self.path.exists():
            try:
                loaded = json.loads(read_text(self.path))
            except Exception as exc:
                raise ProtectError(
                    f"{self.path}: cannot read the protect manifest ({exc}); not touching anything"
                ) from None
            if not isinstance(loaded, dict) or loaded.get("version") != MANIFEST_VERSION:
                raise ProtectError(f"{self.path}: not a version-{MANIFEST_VERSION} protect manifest")
            self.data = loaded

    @property
    def files(self) -> dict[str, Any]:
        return self.data.setdefault("files", {})

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.dir, 0o700)  # backups hold whatever the configs held, secrets included
        write_atomic(self.path, (json.dumps(self.data, indent=2) + "\n").encode(), 0o600)


def apply_plan(plan: Plan, home: Path) -> list[str]:
    """Back up, write, record. Returns what was done, one line per file."""
    manifest = Manifest(home)
    backups = manifest.dir / "backups"
    backups.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(manifest.dir, 0o700)
    os.chmod(backups, 0o700)
    done: list[str] = []
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    for client, (path, text) in plan.policies.items():
        _record_policy(manifest, backups, client, path, text.encode(), stamp)
        write_atomic(path, text.encode(), 0o600)
        done.append(f"wrote policy for {client}: {path}")
    for file in plan.files:
        key = str(file.path)
        before = Path(os.path.realpath(file.path)).read_bytes()
        if before.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise ProtectError(f"{file.path}: UTF-16 files are not rewritten; save it as UTF-8 and run protect again")
        if before.decode("utf-8", "replace").removeprefix("\ufeff") != file.before:
            # The file changed between reading and writing: stop rather than lose someone's edit.
            raise ProtectError(f"{file.path}: changed while protect ran; nothing written to it")
        mode = Path(os.path.realpath(file.path)).stat().st_mode & 0o7777
        entry = manifest.files.get(key)
        after_bytes = _encode_like(before, file.after)
        record_edits = [{"server": e.server, "original": e.original, "wrapped": e.replacement} for e in file.edits]
        if entry is None or entry.get("sha256_after") != sha256(before):
            backup = backups / f"{sha256(key.encode())[:16]}-{stamp}.bak"
            write_atomic(backup, before, 0o600)
            if entry is None:
                entry = {"client": file.client, "backup": str(backup), "sha256_before": sha256(before), "edits": []}
            else:
                # Changed since the last protect: the first backup would undo those changes; keep it, but restore by
                # reversing edits instead.
                entry["backup"] = None
                entry["later_backup"] = str(backup)
        entry["edits"] = list(entry.get("edits", [])) + record_edits
        entry["sha256_after"] = sha256(after_bytes)
        entry["mode"] = mode
        manifest.files[key] = entry
        manifest.save()  # the backup is recorded before the file changes
        write_atomic(file.path, after_bytes, mode)
        done.append(f"wrapped {len(file.edits)} server(s) in {file.path}")
    return done


def _record_policy(manifest: Manifest, backups: Path, client: str, path: Path, data: bytes, stamp: str) -> None:
    """Remember how to undo a policy write: delete it if protect created it, else restore the old bytes."""
    policies = manifest.data.setdefault("policies", {})
    entry = policies.get(str(path))
    current = path.read_bytes() if path.is_file() else None
    if entry is None:
        entry = {"client": client, "created": current is None, "backup": None}
        if current is not None:
            backup = backups / f"{sha256(str(path).encode())[:16]}-{stamp}.bak"
            write_atomic(backup, current, 0o600)
            entry["backup"] = str(backup)
    elif current is not None and sha256(current) != entry.get("sha256_after"):
        entry["edited"] = True  # someone changed it since: unprotect leaves it alone
    entry["sha256_after"] = sha256(data)
    policies[str(path)] = entry
    manifest.save()


def _undo_policies(manifest: Manifest, clients: list[str] | None, dry_run: bool, result: RestoreResult) -> None:
    for key, entry in list(manifest.data.get("policies", {}).items()):
        if clients and entry.get("client") not in clients:
            continue
        if any(f.get("client") == entry.get("client") for f in manifest.files.values()):
            continue  # a config of that client still points at this policy
        path = Path(key)
        current = path.read_bytes() if path.is_file() else None
        if entry.get("edited") or current is None or sha256(current) != entry.get("sha256_after"):
            result.restored.append(f"{path}: policy changed since protect; left in place")
        elif entry.get("created"):
            if not dry_run:
                path.unlink()
            result.restored.append(f"{path}: policy written by protect removed")
        elif entry.get("backup") and Path(entry["backup"]).is_file():
            if not dry_run:
                write_atomic(path, Path(entry["backup"]).read_bytes(), 0o600)
            result.restored.append(f"{path}: policy restored from the backup")
        if not dry_run:
            del manifest.data["policies"][key]
            manifest.save()


def _encode_like(original: bytes, text: str) -> bytes:
    if original.startswith(b"\xef\xbb\xbf"):
        return b"\xef\xbb\xbf" + text.encode()
    return text.encode()


@dataclass
class RestoreResult:
    restored: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def unprotect(home: Path, clients: list[str] | None = None, dry_run: bool = False) -> RestoreResult:
    manifest = Manifest(home)
    result = RestoreResult()
    for key, entry in list(manifest.files.items()):
        if clients and entry.get("client") not in clients:
            continue
        path = Path(key)
        try:
            current = Path(os.path.realpath(path)).read_bytes()
        except OSError as exc:
            result.problems.append(f"{path}: cannot read ({exc.strerror}); left in the manifest")
            continue
        backup = entry.get("backup")
        if backup and sha256(current) == entry.get("sha256_after") and Path(backup).is_file():
            data = Path(backup).read_bytes()
            if sha256(data) != entry.get("sha256_before"):
                result.problems.append(f"{path}: the backup {backup} does not match its recorded hash; not restored")
                continue
            how = "restored byte for byte from the backup"
        else:
            text = current.decode("utf-8", "replace")
            missing = []
            for edit in reversed(entry.get("edits", [])):
                count = text.count(edit["wrapped"])
                if count == 1:
                    text = text.replace(edit["wrapped"], edit["original"], 1)
                else:
                    missing.append(edit["server"])
            if missing:
                result.problems.append(
                    f"{path}: could not find the wrapped entry of {', '.join(missing)} "
                    "(edited since protect?); those stay wrapped"
                )
            data = (
                _encode_like(current, text.lstrip("\ufeff")) if current.startswith(b"\xef\xbb\xbf") else text.encode()
            )
            how = "changed since protect: reversed the recorded edits only"
        if not dry_run:
            write_atomic(path, data, entry.get("mode"))
            del manifest.files[key]
            manifest.save()
        result.restored.append(f"{path}: {how}")
    _undo_policies(manifest, clients, dry_run, result)
    return result
