"""One line describing the machine a benchmark ran on."""

from __future__ import annotations

import os
import platform

import numpy as np


def describe() -> str:
    """CPU model, core count, OS and library versions."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line]
        model = names[0] if names else model
    except OSError:
        pass
    versions = f"Python {platform.python_version()}, numpy {np.__version__}"
    try:
        import torch

        threads = torch.get_num_threads()
        versions += f", torch {torch.__version__} ({threads} thread{'s' * (threads != 1)})"
    except ImportError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()}; {versions}"
