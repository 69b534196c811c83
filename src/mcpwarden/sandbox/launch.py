"""``prepare()``: turn a server's policy entry into a Launch the gateway can spawn (and
respawn) — argv, environment, fds, cwd, a preexec step, the protection report — plus the
resources behind it (egress proxy, network namespace, cgroup), released by ``close()``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcpwarden.errors import SandboxError, shown_command
from mcpwarden.sandbox import bwrap, cgroups, egress_proxy, egress_rules, landlock, macos, netns, seccomp
from mcpwarden.sandbox.environment import SANDBOX_PATH, ServerDirs, build_environment, default_state_dir
from mcpwarden.sandbox.options import NetworkOptions
from mcpwarden.sandbox.plan import LimitsPlan, check_requirements, is_sandboxed, network_mode, plan_limits, plan_report
from mcpwarden.sandbox.probe import Capabilities, probe
from mcpwarden.sandbox.report import ProtectionReport
from mcpwarden.sandbox.secrets import resolve_secrets

if TYPE_CHECKING:
    from mcpwarden.policy.schema import Policy, ServerPolicy

Audit = Callable[[dict[str, Any]], None]
DEV_READ = ("/dev/zero", "/dev/urandom", "/dev/random", "/dev/full")


class Launch:
    """How to start one server. Reusable: the gateway may spawn again after a crash."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: str | None, report: ProtectionReport,
                 pass_fds: tuple[int, ...] = (), steps: tuple[Callable[[], None], ...] = ()):
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.report = report
        self.pass_fds = pass_fds
        self._steps = steps
        self._closers: list[Callable[[], Any]] = []
        self._closed = False

    def preexec(self) -> None:
        """Runs in the child between fork and exec: cgroup, rlimits, namespaces, Landlock, seccomp."""
        for step in self._steps:
            step()

    async def close(self) -> None:
        """Stop the egress proxy and release namespaces and cgroups. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for closer in reversed(self._closers):
            with contextlib.suppress(Exception):
                result = closer()
                if asyncio.iscoroutine(result):
                    await result

    def __repr__(self) -> str:
        return f"<Launch tier={self.report.tier} argv[0]={self.argv[0]!r} env_keys={len(self.env)}>"


async def prepare(
    name: str,
    server: ServerPolicy,
    policy: Policy,
    audit: Audit,
    *,
    capabilities: Capabilities | None = None,
    state_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    egress_allow_loopback: bool = False,
) -> Launch:
    """The launch plan of ``server``. Raises ProtectionUnavailable or SecretSourceError before
    anything is created. ``capabilities`` (to force a fallback tier) and
    ``egress_allow_loopback`` exist for tests; the gateway passes neither."""
    if not server.command:
        raise SandboxError(f"server {name!r} has no command; only stdio servers are launched")
    environ = os.environ if environ is None else environ
    if not is_sandboxed(server):
        env = {k: v for k, v in environ.items() if k not in _gateway_secrets(policy)}
        return Launch([server.command, *server.args], env, server.cwd, ProtectionReport.unsandboxed())
    _check_audit_log_outside(name, server, policy)
    caps = capabilities or probe()
    report = plan_report(server, caps)
    check_requirements(name, server, report)
    secrets = resolve_secrets(name, server.secrets, environ)
    builder = _Builder(name, server, caps, report, audit, state_dir or default_state_dir(), environ,
                       egress_allow_loopback)
    try:
        return await builder.build(secrets)
    except BaseException:
        await builder.launch_close()
        raise


def _check_audit_log_outside(name: str, server: ServerPolicy, policy: Policy) -> None:
    """A server may not write where the audit log lives: it could delete or rewrite the log
    (and, unkeyed, forge a consistent chain) on every tier, whatever bind covers the file."""
    write = server.filesystem.write if server.filesystem else []
    if not write or not policy.audit.enabled:
        return
    log_dir = os.path.realpath(os.path.dirname(os.path.abspath(policy.audit.path)))
    for path in write:
        if bwrap.covered(log_dir, [os.path.realpath(bwrap.expand(path))]):
            raise SandboxError(
                f"server {name!r}: filesystem.write {path!r} contains the audit log's directory {log_dir}, so "
                "the server could delete or rewrite the log; narrow the write path, or move audit.path out of it"
            )


def _gateway_secrets(policy: Policy) -> set[str]:
    """Variables that hold the gateway's own secrets: the audit log's HMAC key (a server that
    had it could forge records) and the principals' tokens. Even an unsandboxed server, which
    otherwise inherits the gateway's environment, does not get them."""
    names = {policy.audit.hmac_key_env}
    names.update(p.token_env for p in policy.principals.values() if p.token_env)
    return names


class _Builder:
    def __init__(self, name: str, server: ServerPolicy, caps: Capabilities, report: ProtectionReport, audit: Audit,
                 state_dir: Path, environ: Mapping[str, str], allow_loopback: bool):
        self.name, self.server, self.caps, self.report, self.audit = name, server, caps, report, audit
        self.environ = environ
        self.allow_loopback = allow_loopback
        self.dirs = ServerDirs.create(state_dir, name)
        self.closers: list[Callable[[], Any]] = []
        self.steps: list[Callable[[], None]] = []
        self.pass_fds: list[int] = []

    async def launch_close(self) -> None:
        for closer in reversed(self.closers):
            with contextlib.suppress(Exception):
                result = closer()
                if asyncio.iscoroutine(result):
                    await result

    async def build(self, secrets: dict[str, str]) -> Launch:
        tier = self.report.tier
        limits = plan_limits(self.server, self.caps, tier)
        self._add_limits(limits)
        mode = network_mode(self.server)
        namespace: netns.NetNamespace | None = None
        proxy_port: int | None = None
        if mode == "allow" and tier == "bwrap" and self.caps.network_namespaces:
            namespace = netns.create()
            self.closers.append(namespace.close)
            proxy_port = namespace.port
            await self._start_proxy(namespace.listener)
            self.steps.append(namespace.enter)
        elif mode == "allow" and tier != "bwrap":
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind(("127.0.0.1", 0))
            listener.listen(128)
            listener.setblocking(False)
            self.closers.append(listener.close)
            proxy_port = listener.getsockname()[1]
            await self._start_proxy(listener)
        executable = _resolve_command(self.server.command or "", self.environ)
        fs = self.server.filesystem
        binds = bwrap.plan_binds(fs.read if fs else [], fs.write if fs else [], executable)
        cwd = _check_cwd(self.server.cwd, binds, self.dirs)
        tmp_inside = "/tmp" if tier == "bwrap" else str(self.dirs.tmp)
        env = build_environment(self.dirs, self.server.env, secrets, proxy_port, tmp_inside, self.environ)
        command = [executable, *self.server.args]
        if tier == "bwrap":
            # bwrap resolves the paths again at each spawn, after the server may have run.
            self.steps.insert(0, _planted_symlink_check(self.name, [*binds.read, *binds.write], binds.write))
            argv = self._bwrap_argv(command, binds, cwd, mode, namespace is not None)
            if namespace is not None and namespace.userns_fd is not None:
                # Not root: the spawn first joins our own user namespace (where we are uid 0);
                # keep the server's uid/gid the gateway's own inside the sandbox.
                at = argv.index("--")
                argv[at:at] = ["--uid", str(os.getuid()), "--gid", str(os.getgid())]
        elif tier == "landlock":
            self._add_landlock(binds, mode, proxy_port)
            argv = command
        elif tier == "sandbox-exec":
            profile = macos.profile(binds.read, binds.write, self.dirs, proxy_port, mode == "host")
            argv = [self.caps.sandbox_exec or "/usr/bin/sandbox-exec", "-p", profile, *command]
        else:
            argv = command
        if tier in ("landlock", "minimal") and self.caps.seccomp:
            prepared = seccomp.PreparedFilter(seccomp.build_filter())
            self.steps.append(prepared.install)
        launch = Launch(argv, env, None if tier == "bwrap" else cwd, self.report, tuple(self.pass_fds),
                        tuple(self.steps))
        launch._closers = self.closers
        return launch

    async def _start_proxy(self, listener: socket.socket) -> None:
        allow = self.server.network.allow if isinstance(self.server.network, NetworkOptions) else []
        proxy = egress_proxy.EgressProxy(self.name, egress_rules.EgressRules(allow), self.audit,
                                         allow_loopback=self.allow_loopback)
        await proxy.start(listener)
        self.closers.append(proxy.close)

    def _add_limits(self, limits: LimitsPlan) -> None:
        if limits.cgroup:
            group = cgroups.ServerCgroup(self.caps.cgroups, self.name)
            self.closers.append(lambda: asyncio.to_thread(group.remove))  # may wait for exiting processes
            try:
                group.create(memory=limits.cgroup.get("memory"), pids=limits.cgroup.get("pids"),  # type: ignore[arg-type]
                             cpu=limits.cgroup.get("cpu"))
            except OSError as exc:
                raise SandboxError(f"server {self.name!r}: cannot set up its cgroup: {exc.strerror or exc}") from exc
            self.steps.append(group.join)
        rlimits = dict(limits.rlimits)

        def set_rlimits() -> None:
            for which, value in rlimits.items():
                resource.setrlimit(which, (value, value))

        self.steps.append(set_rlimits)

    def _bwrap_argv(self, command: list[str], binds: bwrap.BindPlan, cwd: str, mode: str, has_netns: bool) -> list[str]:
        seccomp_fd: int | None = None
        if self.caps.seccomp:
            seccomp_fd = os.memfd_create("mcpwarden-seccomp", os.MFD_CLOEXEC)
            os.write(seccomp_fd, seccomp.build_filter())
            self.closers.append(lambda: os.close(seccomp_fd))
            self.pass_fds.append(seccomp_fd)
            # bwrap reads the program from the fd's offset, which a previous spawn left at the end.
            self.steps.append(lambda: os.lseek(seccomp_fd, 0, os.SEEK_SET) and None)
        return bwrap.build_argv(self.caps.bwrap or "bwrap", command, binds, self.dirs, cwd,
                                share_net=mode == "host" or has_netns, seccomp_fd=seccomp_fd,
                                resolv_conf=mode == "host")

    def _add_landlock(self, binds: bwrap.BindPlan, mode: str, proxy_port: int | None) -> None:
        ruleset = landlock.Ruleset(self.caps.landlock_abi, restrict_tcp=mode != "host")
        self.closers.append(ruleset.close)
        system = [*bwrap.SYSTEM_DIRS, *(f"/etc/{e}" for e in bwrap.ETC_ENTRIES), *DEV_READ]
        if mode == "host":
            system.append("/etc/resolv.conf")
        ruleset.allow_paths(system, landlock.READ)
        ruleset.allow_paths(binds.read, landlock.READ)
        everything = landlock.handled_fs(self.caps.landlock_abi)
        ruleset.allow_paths([*binds.write, str(self.dirs.home), str(self.dirs.cache), str(self.dirs.tmp)], everything)
        # No /proc: without a PID namespace it would show the gateway's /proc/<pid>/environ
        # (measured on 6.18: Landlock's ptrace scoping does not cover that read).
        ruleset.allow_paths(["/dev/null"], landlock.READ | landlock.FS_WRITE_FILE)
        if proxy_port is not None:
            ruleset.allow_connect(proxy_port)
        self.steps.append(ruleset.restrict_self)


def _planted_symlink_check(name: str, paths: list[str], write: list[str]) -> Callable[[], None]:
    def check() -> None:  # in the child before exec: a refusal ends it with a message on stderr
        try:
            bwrap.check_planted_symlinks(paths, write)
        except SandboxError as exc:
            os.write(2, f"mcpwarden: server {name!r} not started: {exc}\n".encode(errors="replace"))
            os._exit(126)

    return check


def _resolve_command(command: str, environ: Mapping[str, str]) -> str:
    if "/" in command:
        path = os.path.abspath(os.path.expanduser(command))
        found = path if os.access(path, os.X_OK) else None
    else:
        found = shutil.which(command, path=SANDBOX_PATH) or shutil.which(command, path=environ.get("PATH"))
    if not found:
        shown = shown_command(command)
        raise SandboxError(f"command {shown} not found (searched {SANDBOX_PATH} and the gateway's PATH)")
    return os.path.abspath(found)


def _check_cwd(cwd: str | None, binds: bwrap.BindPlan, dirs: ServerDirs) -> str:
    if cwd is None:
        return str(dirs.home)
    path = bwrap.expand(cwd)
    allowed = [*binds.read, *binds.write, str(dirs.home), str(dirs.tmp)]
    if not any(path == root or path.startswith(root.rstrip("/") + "/") for root in allowed):
        raise SandboxError(f"cwd {path} is outside the sandbox; add it to filesystem.read or filesystem.write")
    return path
