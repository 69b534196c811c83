"""Exceptions raised by mcpwarden.

    WardenError                      base of everything mcpwarden raises on purpose
    ├── UsageError                   a command was given wrong or missing arguments
    ├── PolicyError                  the policy file is missing, malformed or invalid
    ├── WireError                    a message could not be framed or parsed
    │   └── FramingError             a line is too long, not UTF-8, not JSON, or a batch
    ├── UpstreamError                the upstream server cannot be reached or misbehaves
    │   ├── UpstreamTimeout          no answer within the configured time
    │   └── UpstreamClosed           the upstream process or connection ended
    ├── SandboxError                 the sandbox could not be set up
    │   └── ProtectionUnavailable    a protection the policy requires is missing here
    ├── SecretSourceError            a declared secret could not be read
    ├── DetectError                  a rule file or detection input is invalid
    └── AuditError                   the audit log cannot be written or read
        └── ChainBroken              verification found a tampered or missing record

A guard's denial is a verdict, not an exception. A guard that raises is turned into a
denial by the pipeline (fail closed). Third-party errors are translated at the module
boundary with ``raise ... from``.
"""

from __future__ import annotations

import os
import traceback


class WardenError(Exception):
    """Base class of every error mcpwarden raises on purpose."""


class UsageError(WardenError):
    """A command was given wrong or missing arguments (exit code 2, as for argparse's own errors)."""


class PolicyError(WardenError):
    """The policy file is missing, malformed or invalid. The message names file, line and field."""


class WireError(WardenError):
    """A message could not be framed or parsed."""


class FramingError(WireError):
    """A line is too long, not valid UTF-8, not JSON, or a JSON-RPC batch."""


class UpstreamError(WardenError):
    """The upstream server cannot be reached or misbehaves."""


class UpstreamTimeout(UpstreamError):
    """The upstream server did not answer in time."""


class UpstreamClosed(UpstreamError):
    """The upstream process or connection ended."""


class SandboxError(WardenError):
    """The sandbox could not be set up."""


class ProtectionUnavailable(SandboxError):
    """A protection that the policy requires cannot be given on this machine."""


class SecretSourceError(WardenError):
    """A secret declared in the policy could not be read. The message never holds the value."""


class DetectError(WardenError):
    """A rule file, baseline or detection input is invalid."""


class AuditError(WardenError):
    """The audit log cannot be written or read."""


class ChainBroken(AuditError):
    """Verification found a record that was edited, removed, inserted, reordered or truncated."""


def describe_fault(exc: BaseException) -> str:
    """``KeyError at relay.py:123``: what a log may say of an unexpected exception. Never its
    text, which may quote the message being handled (argument values, secrets)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    return f"{type(exc).__name__} at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno}"


def shown_command(command: str) -> str:
    """A command as an error may show it: a whole command line written as one string (its
    arguments may hold a token, and such errors can reach the MCP client) is cut at the
    first space, with a hint to put the arguments under ``args``."""
    words = command.split()
    if not words:
        return repr(command)
    if words[0] != command:
        return f"{words[0]} ... : the command holds spaces; give the program alone and its arguments under args"
    return command

