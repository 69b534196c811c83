"""The locked-down policy the auditor runs a server under to list its tools (``audit --introspect``).

One policy per server, written to a private temporary directory:

- ``command``/``args`` as the client would start it (the inner server of a wrapped entry);
- ``filesystem.read``: the existing paths named in the arguments (broad roots such as ``/`` or
  a home directory left out), and the install prefix of the interpreter (a virtualenv and the
  Python or Node installation it comes from); never a write path;
- ``network: none``, or only the package registry when a runner (npx, bunx, uvx, pipx, ...)
  must download the server;
- ``secrets``: each variable the config declares, passed by reference (``env:`` of a variable
  set only in the gateway's environment), so no value is written to disk or to the audit log;
- ``limits``: memory, processes, CPU share, open files;
- ``require: [fs, net, env, pid]`` with ``allow_degraded: true``: a degraded (Landlock)
  sandbox is accepted, a missing one is refused and nothing runs;
- the audit log of that run goes to the temporary directory, not to the user's log.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcpwarden.auditor.checks.args import package_spec
from mcpwarden.auditor.model import ServerEntry
from mcpwarden.auditor.presets import REGISTRY_HOSTS, path_args
from mcpwarden.sandbox.bwrap import SYSTEM_DIRS, covered, symlink_chain

LIMITS: dict[str, Any] = {"memory": "1G", "pids": 256, "cpu": 1.0, "open_files": 1024}
REQUIRE = ["fs", "net", "env", "pid"]
SECRET_PREFIX = "MCPWARDEN_INTROSPECT_ENV_"
# ${VAR}, ${VAR:-default}, ${env:VAR} (VS Code); anything else (${input:...}) cannot be resolved here.
_VARIABLE = re.compile(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_UNRESOLVABLE = re.compile(r"\$\{[^}]*\}")
_POLICY_NAME = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass
class IntrospectPolicy:
    """A policy document for one server, the variables the gateway needs to resolve its
    secrets (values: only ever in the child's environment), and notes for the report."""

    name: str
    document: dict[str, Any]
    secret_environ: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<IntrospectPolicy {self.name} secrets={sorted(self.secret_environ)} notes={len(self.notes)}>"


def policy_name(server: ServerEntry) -> str:
    """A policy and sandbox-directory safe name for the server."""
    return _POLICY_NAME.sub("_", server.name)[:64].strip("._") or "server"


def expand_value(value: str, environ: Mapping[str, str]) -> str | None:
    """``${VAR}`` and ``${VAR:-default}`` as clients expand them; None if something in the value
    (e.g. a VS Code ``${input:...}``) cannot be resolved outside the client."""
    expanded = _VARIABLE.sub(lambda m: environ.get(m.group(1)) or (m.group(2) or ""), value)
    return None if _UNRESOLVABLE.search(expanded) else expanded


def _too_broad(prefix: str, homes: list[str]) -> bool:
    if prefix in ("", "/", "/tmp"):
        return True
    return any(covered(home, [prefix]) or prefix == os.path.join(home, ".local") for home in homes)


def _install_prefix(executable: str) -> str | None:
    """``/x`` for ``/x/bin/prog`` when /x looks like a runtime installation (a virtualenv, a
    Python or a Node prefix); None otherwise."""
    parent = Path(executable).parent
    if parent.name not in ("bin", "Scripts"):
        return None
    prefix = parent.parent
    lib = prefix / "lib"
    if (prefix / "pyvenv.cfg").is_file() or (lib / "node_modules").is_dir():
        return str(prefix)
    if lib.is_dir() and any(p.name.startswith("python3") for p in lib.iterdir() if p.is_dir()):
        return str(prefix)
    return None


def _venv_base(prefix: str) -> str | None:
    """The ``home`` of a virtualenv's pyvenv.cfg, as a prefix (its parent when it names bin/)."""
    try:
        text = (Path(prefix) / "pyvenv.cfg").read_text(encoding="utf-8", errors="replace")[:4096]
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home" and value.strip():
            return _install_prefix(os.path.join(value.strip(), "python3"))
    return None


def _command_path(command: str, environ: Mapping[str, str]) -> str | None:
    if "/" in command:
        return os.path.abspath(command) if os.path.exists(command) else None
    return shutil.which(command, path=environ.get("PATH"))


def runtime_paths(command: str, homes: list[str], environ: Mapping[str, str]) -> list[str]:
    """The install prefixes the command needs to run (its venv and base Python, its Node)."""
    found = _command_path(command, environ)
    if found is None:
        return []
    prefixes: list[str] = []
    for hop in symlink_chain(found):
        prefix = _install_prefix(hop)
        for candidate in (prefix, _venv_base(prefix) if prefix else None):
            if (
                candidate
                and candidate not in prefixes
                and not covered(candidate, SYSTEM_DIRS)
                and not _too_broad(candidate, homes)
            ):
                prefixes.append(candidate)
    return prefixes


def build_policy(
    server: ServerEntry,
    home: Path,
    work_dir: Path,
    environ: Mapping[str, str] | None = None,
) -> IntrospectPolicy:
    """The policy under which ``server`` is started to list its tools."""
    environ = os.environ if environ is None else environ
    name = policy_name(server)
    notes: list[str] = []
    command = server.command or ""
    homes = list(dict.fromkeys([str(home), os.path.expanduser("~")]))
    wanted, dropped = path_args(server, home)
    if dropped:
        notes.append(f"broad paths in its arguments not made readable: {len(dropped)}")
    read: list[str] = []
    base_dir = server.file.project or server.file.path.parent
    for path in wanted:
        absolute = os.path.normpath(path if os.path.isabs(path) else os.path.join(base_dir, path))
        if os.path.exists(absolute) and absolute not in read:
            read.append(absolute)
    read += [p for p in runtime_paths(command, homes, environ) if p not in read]
    entry: dict[str, Any] = {
        "command": command,
        "args": list(server.args),
        "filesystem": {"read": read},
        "network": "none",
        "limits": dict(LIMITS),
        "require": list(REQUIRE),
        "allow_degraded": True,
        "restart": {"max_restarts": 0},
    }
    spec = package_spec(server)
    if spec is not None:
        entry["network"] = {"allow": list(REGISTRY_HOSTS[spec[0]])}
    secrets: dict[str, str] = {}
    secret_environ: dict[str, str] = {}
    empty: dict[str, str] = {}
    for i, (key, value) in enumerate(sorted(server.env.items())):
        expanded = expand_value(str(value), environ)
        if expanded is None:
            notes.append(f"env.{key} left out: it refers to something only the client can resolve")
            continue
        if not expanded:  # an empty value is no secret (and env: refuses empty variables)
            empty[key] = ""
            continue
        variable = f"{SECRET_PREFIX}{i}"
        secrets[key] = f"env:{variable}"
        secret_environ[variable] = expanded
    if secrets:
        entry["secrets"] = secrets
    if empty:
        entry["env"] = {"set": empty}
    document = {
        "version": 1,
        "audit": {"enabled": True, "path": str(work_dir / "audit.jsonl")},
        "servers": {name: entry},
    }
    return IntrospectPolicy(name, document, secret_environ, notes)
