"""The seccomp program: assembled here, installed in a real forked child, probed with real
system calls."""

from __future__ import annotations

import errno
import os
import socket
import struct

import pytest

from mcpwarden.sandbox import seccomp

pytestmark = pytest.mark.skipif(not seccomp.seccomp_available(), reason="seccomp filters are not available")


def test_program_shape() -> None:
    program = seccomp.build_filter()
    assert len(program) % 8 == 0 and len(program) // 8 < 64
    first = struct.unpack("=HBBI", program[:8])
    assert first == (0x20, 0, 0, 4)  # load the architecture first
    last = struct.unpack("=HBBI", program[-8:])
    assert last == (0x06, 0, 0, seccomp.RET_KILL_PROCESS)


def test_assembler_rejects_far_jumps() -> None:
    asm = seccomp.Assembler()
    asm.jeq(1, true="far")
    for _ in range(300):
        asm.ret(0)
    asm.label("far")
    asm.ret(0)
    with pytest.raises(ValueError, match="out of range"):
        asm.assemble()


def _in_filtered_child(probe: str) -> str:
    """Fork, install the filter, run one probe, report the errno name through a pipe."""
    import ctypes

    prepared = seccomp.PreparedFilter(seccomp.build_filter())
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        outcome = "?"
        try:
            prepared.install()
            libc = ctypes.CDLL(None, use_errno=True)
            if probe == "io_uring_setup":
                rc = libc.syscall(425, 0, 0)
            elif probe == "ptrace":
                rc = libc.syscall(101, 0, 0, 0, 0)
            elif probe == "netlink":
                rc = libc.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
            elif probe == "raw":
                rc = libc.socket(socket.AF_INET, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 1)
            else:
                rc = libc.socket(socket.AF_INET, socket.SOCK_STREAM, 0)
            outcome = "ok" if rc >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")
        finally:
            os.write(write_end, outcome.encode())
            os._exit(0)
    os.close(write_end)
    try:
        return os.read(read_end, 64).decode()
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)


@pytest.mark.parametrize(
    ("probe", "expected"),
    [("io_uring_setup", "ENOSYS"), ("ptrace", "EPERM"), ("netlink", "EPERM"), ("raw", "EPERM"), ("tcp", "ok")],
)
def test_filter_in_a_real_child(probe: str, expected: str) -> None:
    assert _in_filtered_child(probe) == expected
