"""Keep a process from using Intel AMX, and nothing else: the ``no-amx`` CPU mode.

On Intel Xeons with AMX (Sapphire Rapids and later), llama.cpp's AMX buffer type
crashes in the first batched ``llama_decode``: a segfault in its AMX matmul on one
Xeon, SIGILL on another whose AMX otherwise works (see the README). Linux hands AMX's
tile state to a process only after ``arch_prctl(ARCH_REQ_XCOMP_PERM,
XFEATURE_XTILEDATA)``; ggml asks for it when it sets the AMX buffer type up and skips
AMX when the kernel says no.

:func:`deny_amx` installs a seccomp filter that makes exactly that request fail
with EPERM. Every other system call, and every other ``arch_prctl``, goes through.
llama.cpp then keeps its other extra buffer type, the repacked AVX-512/AVX2 weight
layouts, which is what makes decoding fast. The filter cannot be lifted, so it is
only ever installed in the model's own worker process, before llama.cpp loads.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import platform

ARCH_REQ_XCOMP_PERM = 0x1023
XFEATURE_XTILEDATA = 18
_SYS_ARCH_PRCTL = 158  # x86-64
_SYS_SECCOMP = 317
_AUDIT_ARCH_X86_64 = 0xC000003E
_PR_SET_NO_NEW_PRIVS = 38
_SECCOMP_SET_MODE_FILTER = 1
_SECCOMP_FILTER_FLAG_TSYNC = 1  # every thread of the process, not just the caller
#: Linux before 5.16 (spec_store_bypass_disable=seccomp, the old default: RHEL 8, Ubuntu
#: 20.04) turns on Speculative Store Bypass Disable in every process that installs a
#: seccomp filter, which slows compute; this filter is not a sandbox, so it asks not to
_SECCOMP_FILTER_FLAG_SPEC_ALLOW = 4  # Linux 4.17 and later; an older kernel says EINVAL
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000

# classic BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_RET_K = 0x06
# offsets in struct seccomp_data {int nr; u32 arch; u64 ip; u64 args[6];}
_NR, _ARCH, _ARG0_LOW = 0, 4, 16


class _Filter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint32)]  # fmt: skip


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Filter))]


def _program() -> list[tuple[int, int, int, int]]:
    """arch_prctl(ARCH_REQ_XCOMP_PERM, ...) -> EPERM; everything else -> allow."""
    return [
        (_LD_W_ABS, 0, 0, _ARCH),
        (_JEQ_K, 0, 5, _AUDIT_ARCH_X86_64),  # another ABI: allow
        (_LD_W_ABS, 0, 0, _NR),
        (_JEQ_K, 0, 3, _SYS_ARCH_PRCTL),
        (_LD_W_ABS, 0, 0, _ARG0_LOW),
        (_JEQ_K, 0, 1, ARCH_REQ_XCOMP_PERM),
        (_RET_K, 0, 0, _RET_ERRNO | errno.EPERM),
        (_RET_K, 0, 0, _RET_ALLOW),
    ]


def supported() -> bool:
    return platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64")


def deny_amx() -> None:
    """Refuse AMX to this process for good (OSError if the kernel refuses the filter)."""
    if not supported():
        return  # no AMX to refuse
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    rules = _program()
    array = (_Filter * len(rules))(*(_Filter(*r) for r in rules))
    prog = _Program(len(rules), array)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    for flags in (
        _SECCOMP_FILTER_FLAG_TSYNC | _SECCOMP_FILTER_FLAG_SPEC_ALLOW,
        _SECCOMP_FILTER_FLAG_TSYNC,
    ):
        if libc.syscall(_SYS_SECCOMP, _SECCOMP_SET_MODE_FILTER, flags, ctypes.byref(prog)) == 0:
            return
        if ctypes.get_errno() != errno.EINVAL:
            break
    raise OSError(ctypes.get_errno(), "seccomp filter refused")


def request_amx() -> int:
    """Ask the kernel for AMX tile state as ggml does: 0, or the errno it answered."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.syscall(_SYS_ARCH_PRCTL, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0:
        return 0
    return ctypes.get_errno()
