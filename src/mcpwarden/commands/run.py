"""`mcpwarden run`: put the gateway between an MCP client (on stdio) and an upstream server.

mcpwarden run [--policy FILE] [--server NAME] -- COMMAND [ARGS...]
mcpwarden run --policy FILE --server NAME
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys

from mcpwarden.errors import PolicyError, UsageError

LOG_LEVELS = ("debug", "info", "warning", "error")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", metavar="FILE", help="policy file (YAML); without it the built-in default applies")
    parser.add_argument(
        "--server",
        metavar="NAME",
        help="the server's entry in the policy (its command is used when none is given after --)",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("MCPWARDEN_LOG", "warning"),
        choices=LOG_LEVELS,
        help="what mcpwarden logs to stderr (default: warning, or $MCPWARDEN_LOG)",
    )
    parser.add_argument(
        "--skill",
        metavar="SKILL.md",
        help="run the session under an agent skill: its allowed-tools, restricted_paths and network_allowed "
        "narrow the server's policy",
    )
    parser.add_argument(
        "--skill-preset",
        metavar="PRESET",
        help="risk preset that narrows the skill further: documents, visual-design, tdd, generative-art, memory, "
        "or auto (guess from the skill's name and description)",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS...]")
    parser.epilog = "stdout carries only MCP messages; mcpwarden's own logs go to stderr."


def main(args: argparse.Namespace) -> int:
    if args.log_level.lower() not in LOG_LEVELS:  # from $MCPWARDEN_LOG: argparse checks only what is typed
        raise UsageError(f"MCPWARDEN_LOG={args.log_level!r} is not a log level; use one of {', '.join(LOG_LEVELS)}")
    logging.basicConfig(
        stream=sys.stderr, level=args.log_level.upper(), format="mcpwarden: %(levelname)s %(name)s: %(message)s"
    )
    from mcpwarden.policy.loader import default_policy, load_policy

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    policy = load_policy(args.policy) if args.policy else default_policy()
    name = args.server or "default"
    if args.server and args.server not in policy.servers:
        raise PolicyError(f"{args.policy or 'default policy'}: no server named '{args.server}' under 'servers'")
    server = policy.server(name)
    if command:
        server = server.model_copy(update={"command": command[0], "args": command[1:]})
    elif not server.command:
        if server.url:
            raise PolicyError(f"server '{name}' is an HTTP server (url); `run` supports stdio servers only so far")
        raise UsageError(
            "no server command: give one after -- (mcpwarden run -- npx -y SERVER) or name a policy entry with --server"
        )
    skill = None
    if args.skill_preset:
        from mcpwarden.auditor.presets import SKILL_PRESETS

        if not args.skill:
            raise UsageError("--skill-preset needs --skill")
        if args.skill_preset != "auto" and args.skill_preset not in SKILL_PRESETS:
            raise UsageError(f"unknown skill preset {args.skill_preset!r}; known: {', '.join(SKILL_PRESETS)}, auto")
    if args.skill:
        from mcpwarden.policy.skill import apply_skill

        skill = apply_skill(args.skill, args.skill_preset, name, server)
        server = skill.server
        for note in skill.notes:
            logging.getLogger("mcpwarden.skill").warning("%s", note)
    blocking = _stdio_blocking()
    try:
        return asyncio.run(_serve(policy, name, server, skill))
    finally:
        _restore_stdio_blocking(blocking)


def _stdio_blocking() -> dict[int, bool]:
    modes = {}
    for fd in (0, 1):
        with contextlib.suppress(OSError):
            modes[fd] = os.get_blocking(fd)
    return modes


def _restore_stdio_blocking(modes: dict[int, bool]) -> None:
    """The relay makes stdin and stdout non-blocking. When they are a terminal, the shell
    shares their open file: left non-blocking, the commands run after mcpwarden would fail
    with EAGAIN, so they are given back as they were found."""
    for fd, blocking in modes.items():
        with contextlib.suppress(OSError):
            os.set_blocking(fd, blocking)


async def _serve(policy, name, server, skill) -> int:  # type: ignore[no-untyped-def]
    from mcpwarden.audit import AuditLog
    from mcpwarden.gateway.memory import release_startup_memory
    from mcpwarden.gateway.pipeline import Pipeline
    from mcpwarden.gateway.relay import StdioGateway
    from mcpwarden.guards import build_guards
    from mcpwarden.sandbox import prepare

    audit = AuditLog.open(policy.audit) if policy.audit.enabled else AuditLog.disabled()
    try:
        engine = _load_engine(policy)
        guards = build_guards(policy, name, server, engine, skill.tools if skill else None)
        pipeline = Pipeline(guards, monitor=policy.mode_for(server) == "monitor")
        if skill is not None:
            audit.append({"event": "skill", "server": name, "skill": skill.name, "preset": skill.preset})
        launch = await prepare(name, server, policy, audit.append)
        audit.append({"event": "sandbox", "server": name, "protections": _report_dict(launch.report)})
        gateway = StdioGateway(policy, name, server, pipeline, audit, launch)
        release_startup_memory()
        return await gateway.run()
    finally:
        audit.close()


def _load_engine(policy):  # type: ignore[no-untyped-def]
    if not policy.detection.enabled:
        return None
    from mcpwarden.guards.dlp import engine_from_options

    return engine_from_options(policy.detection)


def _report_dict(report):  # type: ignore[no-untyped-def]
    if isinstance(report, dict):
        return report
    for attr in ("as_dict", "to_dict", "model_dump"):
        if hasattr(report, attr):
            return getattr(report, attr)()
    return {"report": str(report)}
