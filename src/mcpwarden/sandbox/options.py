"""Per-server sandbox options (``filesystem``, ``network``, ``env``, ``secrets``, ``limits``,
``require``, ``allow_degraded`` in a server entry).

The rule: a server entry with none of these keys runs as it would without mcpwarden (no
sandbox, environment passed through), so the default policy never breaks a normal server.
As soon as any of them is set, the server is sandboxed deny-by-default: only the declared
paths, no network unless ``network`` allows it, and a clean environment plus ``env.pass``,
``env.set`` and ``secrets``.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Discriminator, Field, Tag, field_validator

from mcpwarden.policy.base import StrictModel

_HOST_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST_PATTERN = re.compile(rf"^(\*\.)?{_HOST_LABEL}(\.{_HOST_LABEL})*(:(\*|[0-9]{{1,5}}))?$")
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SECRET_SCHEMES = ("env:", "file:", "keyring:", "vault:")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_size(value: str | int) -> int:
    """Bytes from ``512M``, ``1G``, ``256MiB``, ``1048576`` (binary units)."""
    if isinstance(value, int):
        return value
    match = _SIZE.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a size; write e.g. 512M, 1G or a number of bytes")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])


def _is_ip_address(host: str) -> bool:
    """Also the legacy IPv4 forms resolvers accept: ``127.1``, ``2130706433``, ``0x7f.0.0.1``."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        socket.inet_aton(host)
        return True
    except OSError:
        return False


def _check_host_entry(entry: str) -> str:
    entry = entry.strip().lower().rstrip(".")
    if entry.startswith("["):
        host = entry[1:].split("]", 1)[0]
    else:
        host = entry.rsplit(":", 1)[0] if entry.count(":") == 1 else entry
    if _is_ip_address(host):
        raise ValueError(f"{entry!r}: IP addresses are refused by the egress proxy; name the host instead")
    if not _HOST_PATTERN.match(entry):
        raise ValueError(f'{entry!r} is not a host entry; write "host", "*.domain", "host:port" or "host:*"')
    if ":" in entry and entry.rsplit(":", 1)[1] != "*" and not 0 < int(entry.rsplit(":", 1)[1]) < 65536:
        raise ValueError(f"{entry!r}: the port must be 1-65535")
    return entry


def refused_grant(path: str) -> str | None:
    """Why an absolute ``path`` may not be granted, or None. ``/`` would bring in the host's
    /proc (on the Landlock tier the gateway's own ``/proc/<pid>/environ``) and every Unix
    socket; ``/proc`` the same processes."""
    normal = "/" + os.path.normpath(path).lstrip("/")
    if normal == "/":
        return (f"{path!r}: the whole filesystem cannot be granted (it would expose the host's /proc and every "
                "Unix socket); grant the directories the server needs")
    if normal == "/proc" or normal.startswith("/proc/"):
        return f"{path!r}: /proc cannot be granted (it shows the gateway's and other processes' environment)"
    return None


def _check_path(path: str) -> str:
    if not path.startswith(("/", "~")):
        raise ValueError(f"{path!r}: sandbox paths must be absolute (or start with ~)")
    reason = refused_grant(path) if path.startswith("/") else None
    if reason:
        raise ValueError(reason)
    return path


def _check_secret_ref(ref: str) -> str:
    if not ref.startswith(_SECRET_SCHEMES) or ref.endswith(":"):
        # Not repeated: a value here is most likely the secret itself, written in by mistake.
        raise ValueError(
            'not a secret reference (the value is not shown: it may be the secret itself): a secret is '
            '"env:VAR", "file:PATH", "keyring:service/name" or "vault:path#key"'
        )
    if ref.startswith("keyring:") and "/" not in ref:
        raise ValueError(f'{ref!r}: a keyring secret is "keyring:service/name"')
    if ref.startswith("vault:") and "#" not in ref:
        raise ValueError(f'{ref!r}: a vault secret is "vault:path#key"')
    return ref


SandboxPath = Annotated[str, AfterValidator(_check_path)]
HostEntry = Annotated[str, AfterValidator(_check_host_entry)]
SecretRef = Annotated[str, AfterValidator(_check_secret_ref)]


class FilesystemOptions(StrictModel):
    read: list[SandboxPath] = Field(default_factory=list, description="Paths the server may read (and execute).")
    write: list[SandboxPath] = Field(default_factory=list, description="Paths the server may read and write.")


class NetworkOptions(StrictModel):
    allow: list[HostEntry] = Field(
        default_factory=list,
        description='Hosts reachable through the egress proxy: "host" (ports 80 and 443), "*.domain", '
        '"host:port", "host:*".',
    )


class EnvOptions(StrictModel):
    pass_: list[str] = Field(default_factory=list, alias="pass", description="Variables passed from the environment.")
    set: dict[str, str] = Field(default_factory=dict, description="Variables set to fixed values.")

    @field_validator("pass_")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not _ENV_NAME.match(name):
                raise ValueError(f"{name!r} is not an environment variable name")
        return names


class LimitsOptions(StrictModel):
    memory: str | int | None = Field(None, description='Memory limit of the whole server, e.g. "512M".')
    cpu: float | None = Field(None, gt=0, description="CPU share in cores, e.g. 1.5 (cgroups only).")
    pids: int | None = Field(None, ge=1, description="Maximum processes and threads of the server.")
    open_files: int | None = Field(None, ge=16, description="Maximum open file descriptors per process.")

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str | int | None) -> str | int | None:
        if value is not None and parse_size(value) < 8 * 1024 * 1024:
            raise ValueError(f"{value!r} is below the 8M minimum")
        return value

    def memory_bytes(self) -> int | None:
        return None if self.memory is None else parse_size(self.memory)


Protection = Literal["fs", "net", "env", "pid", "seccomp", "limits"]
NETWORK_TAGS = ("network-name", "network-options")
"""Branch tags of ``NetworkSetting``: they appear in validation error locations, where the
policy loader leaves them out (the user wrote ``network``, not a branch name)."""


def _network_branch(value: Any) -> str:
    return NETWORK_TAGS[1] if isinstance(value, dict | NetworkOptions) else NETWORK_TAGS[0]


# Discriminated, so a mistake inside `network: {allow: [...]}` is reported once, for that
# mapping, instead of once per branch ("should be 'none' or 'host'" as well).
NetworkSetting = Annotated[
    Annotated[Literal["none", "host"], Tag(NETWORK_TAGS[0])] | Annotated[NetworkOptions, Tag(NETWORK_TAGS[1])],
    Discriminator(_network_branch),
]
