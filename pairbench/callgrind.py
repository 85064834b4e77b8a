"""Callgrind's client requests from Python, with no compiler: valgrind's "magic sequence" for amd64
placed in an executable page and called through :mod:`ctypes`.

Valgrind recognises the sequence ``rolq $3,%rdi; rolq $13,%rdi; rolq $61,%rdi; rolq $51,%rdi;
xchgq %rbx,%rbx`` (a no-op on a real CPU: the four rotations add up to 128 bits) with ``%rax``
pointing at six 64-bit words ``[request, arg1..arg5]``, and leaves its answer in ``%rdx``, which
holds the default beforehand. Outside valgrind the default comes back, which is also how
:func:`running_on_valgrind` tells whether we run under it. Request numbers are those of
``valgrind.h`` and ``callgrind.h`` (valgrind 3.x).
"""
from __future__ import annotations

import ctypes
import mmap
import platform
from typing import Optional

RUNNING_ON_VALGRIND = 0x1001
_CT = 0x43540000  # VG_USERREQ_TOOL_BASE('C', 'T')
DUMP_STATS, ZERO_STATS, TOGGLE_COLLECT, DUMP_STATS_AT, START_INSTRUMENTATION, STOP_INSTRUMENTATION = (
    _CT + i for i in range(6))

# long request(long *args /* rdi */, long default /* rsi */)
_CODE = bytes([
    0x48, 0x89, 0xF8,              # mov  %rdi,%rax      args block
    0x48, 0x89, 0xF2,              # mov  %rsi,%rdx      default answer
    0x48, 0xC1, 0xC7, 0x03,        # rol  $3,%rdi
    0x48, 0xC1, 0xC7, 0x0D,        # rol  $13,%rdi
    0x48, 0xC1, 0xC7, 0x3D,        # rol  $61,%rdi
    0x48, 0xC1, 0xC7, 0x33,        # rol  $51,%rdi
    0x48, 0x87, 0xDB,              # xchg %rbx,%rbx      the request
    0x48, 0x89, 0xD0,              # mov  %rdx,%rax      answer
    0xC3,                          # ret
])

_fn = None
_page = None  # keeps the executable mapping alive


def _request_fn():
    global _fn, _page
    if _fn is None:
        if platform.machine() not in ("x86_64", "AMD64"):
            raise OSError(f"callgrind client requests: only x86_64 is supported, not {platform.machine()}")
        _page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        _page.write(_CODE)
        addr = ctypes.addressof(ctypes.c_char.from_buffer(_page))
        _fn = ctypes.CFUNCTYPE(ctypes.c_long, ctypes.POINTER(ctypes.c_long), ctypes.c_long)(addr)
    return _fn


def request(code: int, arg1: int = 0, default: int = 0) -> int:
    """Issue one client request; returns valgrind's answer, or ``default`` outside valgrind."""
    args = (ctypes.c_long * 6)(code, arg1, 0, 0, 0, 0)
    return _request_fn()(args, default)


def running_on_valgrind() -> bool:
    return request(RUNNING_ON_VALGRIND) > 0


def zero_stats() -> None:
    request(ZERO_STATS)


def toggle_collect() -> None:
    request(TOGGLE_COLLECT)


def start_instrumentation() -> None:
    request(START_INSTRUMENTATION)


def stop_instrumentation() -> None:
    request(STOP_INSTRUMENTATION)


def dump_stats(name: Optional[str] = None) -> None:
    """Write the costs collected since the last zero/dump as one part of the output file, with
    ``name`` as its trigger (it appears in the part's ``desc: Trigger:`` line)."""
    if name is None:
        request(DUMP_STATS)
        return
    buf = ctypes.create_string_buffer(name.encode("utf-8"))
    request(DUMP_STATS_AT, ctypes.addressof(buf))
