"""Per-server sandbox options (``filesystem``, ``network``, ``env``, ``secrets``, ``limits``,
``require``, ``allow_degraded`` in a server entry).

Owned by the sandbox work (issue 4). Without any of these keys a server runs as it would
without mcpwarden (no sandbox), so the default policy never breaks a normal server.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mcpwarden.policy.base import StrictModel


class FilesystemOptions(StrictModel):
    read: list[str] = Field(default_factory=list, description="Paths the server may read.")
    write: list[str] = Field(default_factory=list, description="Paths the server may read and write.")


class NetworkOptions(StrictModel):
    allow: list[str] = Field(default_factory=list, description='Hosts: "host", "*.domain", "host:port".')


class EnvOptions(StrictModel):
    pass_: list[str] = Field(default_factory=list, alias="pass", description="Variables passed from the environment.")
    set: dict[str, str] = Field(default_factory=dict, description="Variables set to fixed values.")


class LimitsOptions(StrictModel):
    memory: str | None = Field(None, description='Memory limit, e.g. "512M".')
    cpu: float | None = Field(None, description="CPU share in cores, e.g. 1.5.")
    pids: int | None = Field(None, description="Maximum processes/threads.")
    open_files: int | None = Field(None, description="Maximum open file descriptors.")


Protection = Literal["fs", "net", "env", "pid", "seccomp", "limits"]
NetworkSetting = Literal["none", "host"] | NetworkOptions
