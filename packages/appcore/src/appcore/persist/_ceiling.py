"""A ceiling on what the process may allocate while C code decodes untrusted bytes.

Python's C unpickler sizes its memo table from the index a ``PUT`` or ``LONG_BINPUT``
opcode names: 26 bytes of pickle can make it allocate and zero 16 GiB (CPython fixed this
only in 2025, after 3.13). Scanning the opcodes in Python first would cost more than the
load itself (a 100,000-service TAP has 1.4 million opcodes), so the load runs under a
ceiling instead: for its duration the data segment limit (``RLIMIT_DATA``, which on Linux
counts the heap and every private writable mapping) is set to what the process uses now
plus a budget proportional to the input. An allocation past it fails at once, inside the C
code, as a ``MemoryError``, which the loader reports as bad data. The limit is restored
when the load ends, whatever happened.

The limit is process-wide, so it is only set while this is the process's one thread (as
in every tool when it loads a file): another thread allocating meanwhile could fail.
:func:`memory_ceiling` yields False when it cannot set one (other threads, no ``/proc``,
no ``resource`` module); the caller then checks its input another way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

#: A decoder may grow the data segment by this many times its input ...
MEMORY_FACTOR = 64
#: ... plus this many bytes (what the allocator itself may map for a small input).
MEMORY_FLOOR = 32 << 20


def budget_for(size: int) -> int:
    """How far the data segment may grow while ``size`` bytes are decoded."""
    return MEMORY_FACTOR * size + MEMORY_FLOOR


def _status() -> tuple[int, int] | None:
    """``(data segment bytes, threads)`` of this process, from ``/proc/self/status``."""
    data = threads = None
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmData:"):
                    data = int(line.split()[1]) * 1024  # reported in kB
                elif line.startswith(b"Threads:"):
                    threads = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    if data is None or threads is None:
        return None
    return data, threads


@contextlib.contextmanager
def memory_ceiling(budget: int) -> Iterator[bool]:
    """Cap the data segment at its current size plus ``budget`` for the ``with`` block.

    Yields True when the block runs under a ceiling (this one, or a lower limit the process
    already had), False when none could be set and the caller must bound the work itself.
    """
    try:
        import resource
    except ImportError:  # not a Unix
        yield False
        return
    status = _status()
    if status is None or status[1] != 1:
        yield False
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    ceiling = status[0] + budget
    if hard != resource.RLIM_INFINITY:
        ceiling = min(ceiling, hard)
    if soft != resource.RLIM_INFINITY and soft <= ceiling:
        yield True  # the process is held lower than this already
        return
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (ceiling, hard))
    except (OSError, ValueError):
        yield False
        return
    try:
        yield True
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))
