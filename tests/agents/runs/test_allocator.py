"""glibc's malloc keeps the memory a step frees: a tensor's pages come from its heap."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

PROBE = """
import ctypes, sys
import torch
from agents.runs.allocator import keep_freed_memory

class MallInfo2(ctypes.Structure):
    fields = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
    _fields_ = [(name, ctypes.c_size_t) for name in fields.split()]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "keep":
    assert keep_freed_memory() is True
torch.ones(40 << 18).sum()  # 40 MB, freed
mapped = libc.mallinfo2().hblkhd
tensor = torch.ones(40 << 18)
print(libc.mallinfo2().hblkhd - mapped)
"""


def mapped_apart(mode: str) -> int:
    """Bytes glibc maps apart from its heap for a 40 MB tensor, after one was freed."""
    command = [sys.executable, "-c", PROBE, mode]
    return int(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_a_freed_tensor_stays_in_the_heap_for_the_next_one():
    assert mapped_apart("default") >= 40 << 20  # glibc maps allocations this large by default
    assert mapped_apart("keep") == 0
