"""glibc's malloc told to keep the memory a training step frees and allocates again."""

from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (malloc.h)
STEP_MEMORY = 64 << 20  # the largest allocation served from, and kept in, malloc's heap


def keep_freed_memory(limit: int = STEP_MEMORY) -> bool:
    """Serves allocations under ``limit`` bytes from malloc's heap and keeps freed memory there.

    A training or evaluation step frees its temporaries and allocates the same sizes again
    at the next step. By default glibc gives part of that memory back to the kernel, and maps
    it again: every page faults in and is zeroed, which took from a seventh to nearly half of
    a compiled coloring step on our 2-core machine, depending on the process. After this
    call the heap keeps up to ``limit`` bytes of free memory at its top; larger allocations
    are still mapped and returned, which bounds what fragmentation can hold. Process-wide:
    scripts call it at start-up. Returns False, and changes nothing, where the C library is
    not glibc.
    """
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, limit)) and bool(mallopt(_M_TRIM_THRESHOLD, limit))
