"""Process-wide settings that make CPU training faster; scripts call them at start-up."""

from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


def keep_freed_memory() -> bool:
    """Lets glibc's malloc keep freed memory for reuse instead of returning it to the OS.

    The batched rollouts and training steps allocate many large temporaries per step; by
    default each one is a fresh `mmap` whose pages fault in on first touch, which costs as
    much as the arithmetic. Returns False (and changes nothing) where libc is not glibc.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, 1 << 30)) and bool(mallopt(_M_TRIM_THRESHOLD, 1 << 30))
