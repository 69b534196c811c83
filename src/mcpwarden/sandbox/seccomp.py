"""The seccomp filter: a classic-BPF program built here (no libseccomp), loaded by bwrap
through ``--seccomp FD`` or installed in the child with prctl on the fallback tier.

What it refuses, and why:
  io_uring_*                  io_uring runs socket and file operations past seccomp's view
  ptrace, process_vm_*        reading or steering other processes
  bpf, perf_event_open        kernel attack surface, tracing
  keyctl, add_key, request_key  the kernel keyring is not namespaced
  userfaultfd                 a common exploitation primitive
  kexec_*, *_module, open_by_handle_at   host takeover paths
  socket(AF_NETLINK|AF_PACKET), socket(SOCK_RAW|SOCK_PACKET)   raw and netlink sockets
Other architectures (x32, i386 on x86-64) are killed: their syscall numbers differ.
io_uring gets ENOSYS so runtimes (libuv) fall back quietly; everything else gets EPERM.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct
from dataclasses import dataclass

from mcpwarden.sandbox import syscalls

# Classic BPF opcodes (linux/filter.h).
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_AND_K = 0x54
_RET_K = 0x06

RET_KILL_PROCESS = 0x80000000
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6];
_OFF_NR = 0
_OFF_ARCH = 4


def _off_arg_low(index: int) -> int:
    return 16 + 8 * index  # low 32 bits on little-endian machines


AF_NETLINK = 16
AF_PACKET = 17
SOCK_RAW = 3
SOCK_PACKET = 10
SOCK_TYPE_MASK = 0xF


@dataclass(frozen=True)
class Arch:
    audit_arch: int
    syscalls: dict[str, int]
    x32_bit: int | None = None


_X86_64 = Arch(
    audit_arch=0xC000003E,
    x32_bit=0x40000000,
    syscalls={
        "socket": 41, "ptrace": 101, "init_module": 175, "delete_module": 176, "kexec_load": 246,
        "add_key": 248, "request_key": 249, "keyctl": 250, "perf_event_open": 298, "open_by_handle_at": 304,
        "process_vm_readv": 310, "process_vm_writev": 311, "finit_module": 313, "kexec_file_load": 320,
        "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    },
)
_AARCH64 = Arch(
    audit_arch=0xC00000B7,
    syscalls={
        "socket": 198, "ptrace": 117, "init_module": 105, "delete_module": 106, "kexec_load": 104,
        "add_key": 217, "request_key": 218, "keyctl": 219, "perf_event_open": 241, "open_by_handle_at": 265,
        "process_vm_readv": 270, "process_vm_writev": 271, "finit_module": 273, "kexec_file_load": 294,
        "bpf": 280, "userfaultfd": 282, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    },
)
ARCHES = {"x86_64": _X86_64, "amd64": _X86_64, "aarch64": _AARCH64, "arm64": _AARCH64}

DENIED_SYSCALLS: dict[str, int] = {
    "io_uring_setup": errno.ENOSYS, "io_uring_enter": errno.ENOSYS, "io_uring_register": errno.ENOSYS,
    "ptrace": errno.EPERM, "process_vm_readv": errno.EPERM, "process_vm_writev": errno.EPERM,
    "bpf": errno.EPERM, "perf_event_open": errno.EPERM, "keyctl": errno.EPERM, "add_key": errno.EPERM,
    "request_key": errno.EPERM, "userfaultfd": errno.EPERM, "kexec_load": errno.EPERM,
    "kexec_file_load": errno.EPERM, "init_module": errno.EPERM, "finit_module": errno.EPERM,
    "delete_module": errno.EPERM, "open_by_handle_at": errno.EPERM,
}


class Assembler:
    """A tiny classic-BPF assembler with labels; conditional jumps take label names."""

    def __init__(self) -> None:
        self._code: list[tuple[int, str | int, str | int, int]] = []
        self._labels: dict[str, int] = {}

    def label(self, name: str) -> None:
        self._labels[name] = len(self._code)

    def load(self, offset: int) -> None:
        self._code.append((_LD_W_ABS, 0, 0, offset))

    def jeq(self, value: int, true: str | int = 0, false: str | int = 0) -> None:
        self._code.append((_JEQ_K, true, false, value))

    def jge(self, value: int, true: str | int = 0, false: str | int = 0) -> None:
        self._code.append((_JGE_K, true, false, value))

    def and_(self, mask: int) -> None:
        self._code.append((_AND_K, 0, 0, mask))

    def ret(self, value: int) -> None:
        self._code.append((_RET_K, 0, 0, value))

    def assemble(self) -> bytes:
        out = bytearray()
        for index, (code, jt, jf, k) in enumerate(self._code):
            out += struct.pack("=HBBI", code, self._target(index, jt), self._target(index, jf), k)
        return bytes(out)

    def _target(self, index: int, target: str | int) -> int:
        if isinstance(target, int):
            return target
        offset = self._labels[target] - index - 1
        if not 0 <= offset <= 255:
            raise ValueError(f"BPF jump to {target!r} out of range ({offset})")
        return offset


def current_arch() -> Arch | None:
    return ARCHES.get(platform.machine().lower())


def build_filter(arch: Arch | None = None) -> bytes:
    """The filter as raw ``struct sock_filter`` array bytes (what bwrap --seccomp reads)."""
    arch = arch or current_arch()
    if arch is None:
        raise OSError(errno.ENOSYS, f"no seccomp syscall table for {platform.machine()}")
    asm = Assembler()
    asm.load(_OFF_ARCH)
    asm.jeq(arch.audit_arch, false="kill")
    asm.load(_OFF_NR)
    if arch.x32_bit is not None:
        asm.jge(arch.x32_bit, true="kill")
    errnos = sorted(set(DENIED_SYSCALLS.values()))
    for name, err in DENIED_SYSCALLS.items():
        asm.jeq(arch.syscalls[name], true=f"errno_{err}")
    asm.jeq(arch.syscalls["socket"], false="allow")
    asm.load(_off_arg_low(0))
    asm.jeq(AF_NETLINK, true=f"errno_{errno.EPERM}")
    asm.jeq(AF_PACKET, true=f"errno_{errno.EPERM}")
    asm.load(_off_arg_low(1))
    asm.and_(SOCK_TYPE_MASK)
    asm.jeq(SOCK_RAW, true=f"errno_{errno.EPERM}")
    asm.jeq(SOCK_PACKET, true=f"errno_{errno.EPERM}")
    asm.label("allow")
    asm.ret(RET_ALLOW)
    for err in errnos:
        asm.label(f"errno_{err}")
        asm.ret(RET_ERRNO | err)
    asm.label("kill")
    asm.ret(RET_KILL_PROCESS)
    return asm.assemble()


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class PreparedFilter:
    """A filter made ready in the parent, so the child only has to call prctl twice."""

    def __init__(self, program: bytes):
        self._buffer = ctypes.create_string_buffer(program, len(program))
        self._prog = _SockFprog(len(program) // 8, ctypes.cast(self._buffer, ctypes.c_void_p))

    def install(self) -> None:
        """Install in the calling process (sets no_new_privs first, as unprivileged seccomp needs)."""
        syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)
        syscalls.prctl(syscalls.PR_SET_SECCOMP, syscalls.SECCOMP_MODE_FILTER,
                       ctypes.addressof(self._prog))


def seccomp_available() -> bool:
    try:
        syscalls.prctl(syscalls.PR_GET_SECCOMP)
    except OSError:
        return False
    return current_arch() is not None
