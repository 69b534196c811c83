"""Thin ctypes wrappers for the Linux system calls the sandbox needs and Python lacks:
unshare, setns, prctl, and Landlock's three calls. Each raises OSError with errno set."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
PR_GET_SECCOMP = 21
SECCOMP_MODE_FILTER = 2

# Landlock's syscall numbers are the same on every architecture (generic table).
SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True) if sys.platform == "linux" else None


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _libc_or_raise() -> ctypes.CDLL:
    if _libc is None:
        raise OSError(38, "Linux system calls are not available on this platform")
    return _libc


def unshare(flags: int) -> None:
    _check(_libc_or_raise().unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_libc_or_raise().setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def prctl(option: int, arg2: int | ctypes.c_void_p = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    libc = _libc_or_raise()
    return _check(
        libc.prctl(ctypes.c_int(option), arg2 if isinstance(arg2, ctypes.c_void_p) else ctypes.c_ulong(arg2),
                   ctypes.c_ulong(arg3), ctypes.c_ulong(arg4), ctypes.c_ulong(arg5)),
        "prctl",
    )


def syscall(number: int, *args: int | ctypes.c_void_p | None) -> int:
    libc = _libc_or_raise()
    converted = [a if isinstance(a, ctypes.c_void_p) or a is None else ctypes.c_long(a) for a in args]
    return _check(libc.syscall(ctypes.c_long(number), *converted), f"syscall {number}")
