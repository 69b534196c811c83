"""Landlock, the fallback filesystem (and TCP port) confinement for machines where user
namespaces are blocked. The ruleset is built in the gateway; the child only calls
restrict_self before exec. Landlock also stops the child from ptracing (and so from
reading /proc/<pid>/mem of) processes outside its domain; /proc itself is not granted.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import stat
from collections.abc import Iterable

from mcpwarden.sandbox import syscalls

CREATE_RULESET_VERSION = 1 << 0
RULE_PATH_BENEATH = 1
RULE_NET_PORT = 2

FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5

NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1

SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1

READ = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPortAttr(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


def abi_version() -> int:
    """Landlock ABI version of the running kernel, 0 when Landlock is absent or disabled."""
    try:
        return syscalls.syscall(syscalls.SYS_LANDLOCK_CREATE_RULESET, None, 0, CREATE_RULESET_VERSION)
    except OSError:
        return 0


def handled_fs(abi: int) -> int:
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


class Ruleset:
    """An fd-backed Landlock ruleset. Paths that do not exist are skipped."""

    def __init__(self, abi: int, restrict_tcp: bool):
        self.abi = abi
        self.fs_all = handled_fs(abi)
        self.restrict_tcp = restrict_tcp and abi >= 4
        attr = _RulesetAttr(self.fs_all, NET_BIND_TCP | NET_CONNECT_TCP if self.restrict_tcp else 0,
                            SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0)
        size = 24 if abi >= 6 else (16 if abi >= 4 else 8)
        self.fd = syscalls.syscall(syscalls.SYS_LANDLOCK_CREATE_RULESET,
                                   ctypes.c_void_p(ctypes.addressof(attr)), size, 0)

    def allow_paths(self, paths: Iterable[str], rights: int) -> None:
        for path in paths:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                allowed = rights & self.fs_all
                if not stat.S_ISDIR(os.fstat(fd).st_mode):
                    allowed &= _FILE_RIGHTS
                attr = _PathBeneathAttr(allowed, fd)
                syscalls.syscall(syscalls.SYS_LANDLOCK_ADD_RULE, self.fd, RULE_PATH_BENEATH,
                                 ctypes.c_void_p(ctypes.addressof(attr)), 0)
            finally:
                os.close(fd)

    def allow_connect(self, port: int) -> None:
        if not self.restrict_tcp:
            return
        attr = _NetPortAttr(NET_CONNECT_TCP, port)
        syscalls.syscall(syscalls.SYS_LANDLOCK_ADD_RULE, self.fd, RULE_NET_PORT,
                         ctypes.c_void_p(ctypes.addressof(attr)), 0)

    def restrict_self(self) -> None:
        """Runs in the child before exec."""
        syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)
        syscalls.syscall(syscalls.SYS_LANDLOCK_RESTRICT_SELF, self.fd, 0)

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1
