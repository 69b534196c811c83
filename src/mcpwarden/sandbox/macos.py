"""A deny-by-default ``sandbox-exec`` profile (macOS SBPL) with the same meaning as the Linux
policy: read the system runtime and the read paths, write the write paths and the server's
own HOME/cache/tmp, network only to the per-server egress proxy on localhost.

Limits (documented in docs/sandbox.md): sandbox-exec is deprecated by Apple but still
shipped; there is no PID namespace, no seccomp, and limits are rlimits only.
"""

from __future__ import annotations

from collections.abc import Iterable

from mcpwarden.sandbox.environment import ServerDirs

SYSTEM_READ = ("/usr", "/bin", "/sbin", "/System", "/Library/Frameworks", "/private/etc", "/etc",
               "/opt/homebrew", "/usr/local", "/private/var/db/timezone", "/dev")


def _quote(path: str) -> str:
    if any(c in path for c in '"\\\n\0'):
        raise ValueError(f"path {path!r} cannot be written into a sandbox profile")
    return f'"{path}"'


def _subpaths(paths: Iterable[str]) -> str:
    return " ".join(f"(subpath {_quote(p)})" for p in paths)


def profile(read: list[str], write: list[str], dirs: ServerDirs, proxy_port: int | None, host_network: bool) -> str:
    own = [str(dirs.home), str(dirs.cache), str(dirs.tmp)]
    lines = [
        "(version 1)",
        "(deny default)",
        "(allow process-fork)",
        "(allow process-exec)",
        "(allow signal (target same-sandbox))",
        "(allow sysctl-read)",
        "(allow mach-lookup)",
        "(allow ipc-posix-shm)",
        '(allow file-read-metadata (literal "/") (literal "/private") (literal "/var") (literal "/tmp"))',
        f"(allow file-read* {_subpaths([*SYSTEM_READ, *read, *write, *own])})",
        f"(allow file-write* {_subpaths([*write, *own])} (literal \"/dev/null\"))",
    ]
    if host_network:
        lines.append("(allow network*)")
    elif proxy_port is not None:
        lines.append(f'(allow network-outbound (remote tcp "localhost:{int(proxy_port)}"))')
    return "\n".join(lines) + "\n"
