"""``torch.compile`` as supervised training and evaluation call it.

Shapes are fixed, and two inductor options suit the small per-position work of our tasks on a
CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

# Measured on the compiled q-norm steps (benchmarks/train_step.py, both tasks, 1 thread):
# - realize_reads_threshold: write out every tensor that more than one consumer reads, instead
#   of computing it again inside each consumer (inductor's default recomputes it for up to 4);
# - cpp.enable_loop_tail_vec: run loops shorter than a SIMD vector (the 3 colors, the 6 head
#   values of a coloring position) as plain scalar code, not as masked vector loads and stores.
INDUCTOR_OPTIONS = {"realize_reads_threshold": 1, "cpp.enable_loop_tail_vec": False}


def compiled(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` through ``torch.compile`` with static shapes and ``INDUCTOR_OPTIONS``."""
    return torch.compile(function, dynamic=False, options=INDUCTOR_OPTIONS)
