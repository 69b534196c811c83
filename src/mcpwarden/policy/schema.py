"""The policy file, whole. Each section's options live next to the code that uses them;
this module only composes them. See docs/policy.md for every key.

    version: 1
    mode: enforce | monitor
    gateway:     limits of the gateway itself (message size, request timeout)
    audit:       the tamper-evident audit log
    detection:   secrets, PII and honeytokens in both directions
    defaults:    server settings for servers without an entry of their own
    servers:     NAME -> how to launch it, its tools, sandbox, limits
    principals:  who may connect (HTTP front), and their roles
    roles:       which servers and tools a role grants
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from mcpwarden.audit.options import AuditOptions
from mcpwarden.guards.dlp_options import DetectionOptions
from mcpwarden.guards.tools import ToolsOptions
from mcpwarden.policy.base import StrictModel
from mcpwarden.sandbox.options import (
    EnvOptions,
    FilesystemOptions,
    LimitsOptions,
    NetworkSetting,
    Protection,
    SecretRef,
)

Mode = Literal["enforce", "monitor"]


class RestartOptions(StrictModel):
    max_restarts: int = Field(5, ge=0, description="Restarts allowed after crashes before the gateway gives up.")
    initial_delay: float = Field(0.2, gt=0, description="Seconds before the first restart; doubles each time.")
    max_delay: float = Field(10.0, gt=0, description="Upper bound of the restart delay in seconds.")
    reset_after: float = Field(60.0, gt=0, description="Seconds of healthy running that reset the restart count.")


class GatewayOptions(StrictModel):
    max_message_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Largest JSON-RPC message accepted from either side."
    )
    request_timeout: float = Field(
        600.0, gt=0, description="Seconds an upstream may take to answer a request before the client gets an error."
    )
    startup_timeout: float = Field(
        60.0,
        gt=0,
        description="Seconds an upstream that is starting may take to answer: the first initialize or "
        "server/discover, and any request sent while a crashed upstream restarts, until it first answers (npx or uvx "
        "may fetch a package); request_timeout applies when longer.",
    )
    shutdown_grace: float = Field(
        2.0, gt=0, description="Seconds to wait after closing the upstream's stdin, and again after SIGTERM."
    )
    stream_results: bool = Field(
        True,
        description="Send a large response (64 KiB or more) on to the client while it arrives, as far as the guards "
        "have checked it (holding back a margin), instead of holding it whole first. A response blocked or rewritten "
        "in the end then reaches the client cut short, followed by the error or the rewritten message. false: hold "
        "every message whole.",
    )


class ServerSettings(StrictModel):
    """Everything a server entry shares with ``defaults``."""

    mode: Mode | None = Field(None, description="Overrides the top-level mode for this server.")
    tools: ToolsOptions = Field(default_factory=ToolsOptions)
    filesystem: FilesystemOptions | None = None
    network: NetworkSetting | None = None
    env: EnvOptions | None = None
    secrets: dict[str, SecretRef] = Field(
        default_factory=dict, description='NAME: "env:VAR" | "file:PATH" | "keyring:service/name" | "vault:path#key"'
    )
    limits: LimitsOptions | None = None
    require: list[Protection] = Field(default_factory=list)
    allow_degraded: bool = False
    restart: RestartOptions = Field(default_factory=RestartOptions)

    @model_validator(mode="after")
    def _required_limits_are_set(self) -> ServerSettings:
        if "limits" in self.require and self.limits is None:
            raise PolicyProblem(
                ("require", self.require.index("limits")),
                "requires the protection 'limits' but sets no limits: add e.g. limits: {memory: 512M, pids: 256}",
            )
        return self


class ServerPolicy(ServerSettings):
    """One upstream server: how to start it (stdio) or reach it (url) and what it may do."""

    command: str | None = Field(None, description="Executable of a stdio server.")
    args: list[str] = Field(default_factory=list)
    cwd: str | None = None
    url: str | None = Field(None, description="URL of a Streamable HTTP server (not yet supported by `run`).")

    @model_validator(mode="after")
    def _one_transport(self) -> ServerPolicy:
        if self.command and self.url:
            raise ValueError("give either 'command' (stdio) or 'url' (HTTP), not both")
        return self


class PolicyProblem(ValueError):
    """A validator's complaint about one key inside what it checks: ``loc`` leads there from
    the validated field (or model), so the loader can name its line and dotted path."""

    def __init__(self, loc: tuple[str | int, ...], message: str):
        super().__init__(message)
        self.loc = loc


class PrincipalPolicy(StrictModel):
    roles: list[str] = Field(default_factory=list)
    token_env: str | None = Field(None, description="Environment variable holding this principal's bearer token.")


class RoleServerGrant(StrictModel):
    tools: ToolsOptions = Field(default_factory=ToolsOptions)


class RolePolicy(StrictModel):
    servers: dict[str, RoleServerGrant] = Field(default_factory=dict, description='Server name or "*" -> grant.')


class Policy(StrictModel):
    version: Literal[1] = 1
    mode: Mode = "enforce"
    gateway: GatewayOptions = Field(default_factory=GatewayOptions)
    audit: AuditOptions = Field(default_factory=AuditOptions)
    detection: DetectionOptions = Field(default_factory=DetectionOptions)
    defaults: ServerSettings = Field(default_factory=ServerSettings)
    servers: dict[str, ServerPolicy] = Field(default_factory=dict)
    principals: dict[str, PrincipalPolicy] = Field(default_factory=dict)
    roles: dict[str, RolePolicy] = Field(default_factory=dict)

    @field_validator("servers")
    @classmethod
    def _server_names(cls, servers: dict[str, ServerPolicy]) -> dict[str, ServerPolicy]:
        for name in servers:
            if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
                raise PolicyProblem((name,), f"server name {name!r} may hold only letters, digits, '-', '_' and '.'")
        return servers

    @model_validator(mode="after")
    def _roles_exist(self) -> Policy:
        for pname, principal in self.principals.items():
            for i, role in enumerate(principal.roles):
                if role not in self.roles:
                    raise PolicyProblem(
                        ("principals", pname, "roles", i),
                        f"principal {pname!r} names role {role!r}, which is not defined under 'roles'",
                    )
        return self

    @model_validator(mode="after")
    def _audit_key_stays(self) -> Policy:
        """The audit log's HMAC key is the gateway's alone: a server handed it (``env.pass`` or a
        secret read from that variable) could forge records and the head file's MAC."""
        key_env = self.audit.hmac_key_env
        entries: list[tuple[tuple[str, ...], ServerSettings]] = [(("defaults",), self.defaults)]
        entries += [(("servers", name), server) for name, server in self.servers.items()]
        for where, settings in entries:
            passed = settings.env.pass_ if settings.env else []
            if key_env in passed:
                raise PolicyProblem(
                    (*where, "env", "pass", passed.index(key_env)),
                    f"{key_env} holds the audit log's HMAC key (audit.hmac_key_env); a server must not get it",
                )
            for secret, ref in settings.secrets.items():
                if ref == f"env:{key_env}":
                    raise PolicyProblem(
                        (*where, "secrets", secret),
                        f"{key_env} holds the audit log's HMAC key (audit.hmac_key_env); a server must not get it",
                    )
        return self

    def server(self, name: str) -> ServerPolicy:
        """The entry for ``name``, or the ``defaults`` settings when it has none."""
        if name in self.servers:
            return self.servers[name]
        return ServerPolicy(**self.defaults.model_dump(by_alias=True, exclude_unset=True))

    def mode_for(self, server: ServerSettings) -> Mode:
        return server.mode or self.mode
