"""The least-privilege sandbox for stdio servers. See docs/sandbox.md.

    launch = await prepare(name, server, policy, audit)
    # spawn launch.argv with launch.env, launch.cwd, launch.pass_fds, preexec_fn=launch.preexec
    await launch.close()
"""

from mcpwarden.sandbox.launch import Launch, prepare
from mcpwarden.sandbox.probe import Capabilities, probe
from mcpwarden.sandbox.report import Protection, ProtectionReport

__all__ = ["Capabilities", "Launch", "Protection", "ProtectionReport", "prepare", "probe"]
