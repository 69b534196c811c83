"""What a server entry wrapped by ``protect`` looks like, and how to recognise one written by hand.

{"command": "/abs/mcpwarden", "args": ["run", "--policy", P, "--server", NAME, "--", C, *A]}
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import PurePosixPath, PureWindowsPath

_PYTHON = re.compile(r"^python(?:3(?:\.\d+)?)?(?:\.exe)?$")


def _basename(command: str) -> str:
    name = PureWindowsPath(command).name if "\\" in command else PurePosixPath(command).name
    return name.lower().removesuffix(".exe")


def gateway_args(command: str | None, args: list[str]) -> list[str] | None:
    """The arguments after ``mcpwarden`` if this entry runs ``mcpwarden run``, else None."""
    if not command:
        return None
    base = _basename(command)
    if base == "mcpwarden":
        rest = args
    elif _PYTHON.match(base) and len(args) >= 2 and args[0] == "-m" and args[1] == "mcpwarden":
        rest = args[2:]
    elif base in ("uvx", "pipx") and "mcpwarden" in args[:3]:
        rest = args[args.index("mcpwarden") + 1 :]
    else:
        return None
    return rest if rest[:1] == ["run"] else None


def is_wrapped(command: str | None, args: list[str]) -> bool:
    return gateway_args(command, args) is not None


def policy_of(command: str | None, args: list[str]) -> str | None:
    rest = gateway_args(command, args) or []
    for i, arg in enumerate(rest):
        if arg == "--":
            break
        if arg == "--policy" and i + 1 < len(rest):
            return rest[i + 1]
        if arg.startswith("--policy="):
            return arg.split("=", 1)[1]
    return None


def mcpwarden_executable() -> str:
    """Absolute path of the mcpwarden command, so a client's PATH does not matter."""
    found = shutil.which("mcpwarden")
    if found:
        return os.path.abspath(found)
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if _basename(argv0) == "mcpwarden" and os.path.exists(argv0):
        return os.path.abspath(argv0)
    candidate = os.path.join(os.path.dirname(sys.executable), "mcpwarden")
    return candidate


def wrap(command: str, args: list[str], policy: str, server: str, executable: str) -> tuple[str, list[str]]:
    return executable, ["run", "--policy", policy, "--server", server, "--", command, *args]
