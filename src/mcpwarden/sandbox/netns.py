"""A network namespace per sandboxed server whose only way out is the egress proxy.

A short-lived forked helper enters a new network namespace (and, when the gateway is not
root, a new user namespace that owns it), brings up its loopback, opens a listening TCP
socket on its 127.0.0.1 and hands the socket and the namespace fds back over a Unix socket.
The gateway accepts proxy connections on that socket (a listening socket stays in the
namespace it was made in), and each spawn joins the namespace in preexec, so bwrap runs
with ``--share-net`` inside it. No socat, no socket files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import struct
from dataclasses import dataclass

from mcpwarden.errors import SandboxError
from mcpwarden.sandbox import syscalls

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
HELPER_TIMEOUT = 5.0


@dataclass
class NetNamespace:
    netns_fd: int
    userns_fd: int | None
    listener: socket.socket
    port: int

    def enter(self) -> None:
        """Join the namespace(s). Runs in the child before exec."""
        if self.userns_fd is not None:
            syscalls.setns(self.userns_fd, syscalls.CLONE_NEWUSER)
        syscalls.setns(self.netns_fd, syscalls.CLONE_NEWNET)

    def close(self) -> None:
        self.listener.close()
        for fd in (self.netns_fd, self.userns_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)


def _bring_up_loopback() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def _helper(channel: socket.socket) -> None:
    uid, gid = os.getuid(), os.getgid()
    if uid == 0:
        syscalls.unshare(syscalls.CLONE_NEWNET)
    else:
        syscalls.unshare(syscalls.CLONE_NEWUSER | syscalls.CLONE_NEWNET)
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"0 {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"0 {gid} 1")
    _bring_up_loopback()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    fds = [listener.fileno(), os.open("/proc/self/ns/net", os.O_RDONLY)]
    if uid != 0:
        fds.append(os.open("/proc/self/ns/user", os.O_RDONLY))
    # "P" and the port: an answer told apart from an error ("E" and its text) by its first byte
    # alone, whatever the port's bytes are (a port whose low byte is "E" read as an error).
    socket.send_fds(channel, [b"P" + struct.pack("=H", listener.getsockname()[1])], fds)


def create() -> NetNamespace:
    """Make the namespace and its listener. Raises SandboxError when the kernel refuses."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the forked helper
        code = 0
        try:
            parent.close()
            _helper(child)
        except BaseException as exc:
            with contextlib.suppress(BaseException):
                child.sendall(b"E" + str(exc).encode()[:200])
            code = 1
        finally:
            os._exit(code)
    child.close()
    try:
        parent.settimeout(HELPER_TIMEOUT)
        try:
            data, fds, _flags, _addr = socket.recv_fds(parent, 256, 3)
        except OSError as exc:
            raise SandboxError(f"network namespace helper failed: {exc}") from exc
    finally:
        parent.close()
        os.waitpid(pid, 0)
    if not fds or not data.startswith(b"P") or len(data) != 3:
        for fd in fds:
            os.close(fd)
        if data.startswith(b"E"):
            why = data[1:].decode(errors="replace") or "no reason given"
        else:
            why = "the helper's answer was incomplete" if data else "no answer"
        raise SandboxError(f"cannot create a network namespace: {why}")
    for fd in fds:
        os.set_inheritable(fd, False)
    listener = socket.socket(fileno=fds[0])
    listener.setblocking(False)
    return NetNamespace(
        netns_fd=fds[1], userns_fd=fds[2] if len(fds) > 2 else None, listener=listener,
        port=struct.unpack("=H", data[1:3])[0],
    )
