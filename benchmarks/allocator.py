"""A compiled q-norm step with malloc keeping freed memory, against glibc's defaults.

    python -m benchmarks.allocator [--processes 8] [--steps 40]

A training run is one process repeating one step. Whether glibc's malloc gives the step's
freed temporaries back to the kernel (which maps and zeroes them again at the next step)
depends on the process's heap, so the two settings are compared over fresh processes,
alternated: each builds the task's compiled ``Trainer.step`` (coloring C_10 at B = 256,
m = 10; recall N = 15 at B = 128, m = 30; ``benchmarks.train_step``'s cases), with
``agents.runs.allocator.keep_freed_memory`` ("kept") or without ("glibc"), and times it at
1 thread. Reported per setting: the median and range over processes of the wall time per
step, the kernel's share of the process time, and the page faults per step; then the ratio
of the medians. Run the benchmark once before to fill torch.compile's cache.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch

from agents.runs.allocator import keep_freed_memory
from agents.tasks import ColoringTask, RecallTask
from benchmarks.machine import describe
from benchmarks.train_step import step_function

CASES = {"coloring": (ColoringTask, 10, 256, 10), "recall": (RecallTask, 15, 128, 30)}


def measure(case: str, allocator: str, steps: int) -> dict[str, float]:
    """Wall, user and system seconds and page faults per step, after three warm-up steps."""
    torch.set_num_threads(1)
    if allocator == "kept":
        keep_freed_memory()
    task_class, size, batch_size, n_seeds = CASES[case]
    step = step_function(task_class(size), batch_size, n_seeds, compile=True)
    step(), step(), step()
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(steps):
        step()
    after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - start
    return {
        "wall": wall / steps,
        "user": (after.ru_utime - before.ru_utime) / steps,
        "system": (after.ru_stime - before.ru_stime) / steps,
        "faults": (after.ru_minflt - before.ru_minflt) / steps,
    }


def in_fresh_process(case: str, allocator: str, steps: int) -> dict[str, float]:
    """``measure`` in a new Python process."""
    command = [sys.executable, "-m", "benchmarks.allocator", "--child", case, allocator]
    command += ["--steps", str(steps)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(output.splitlines()[-1])


def main() -> None:
    """Alternate the settings over fresh processes and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=8, help="per case and setting")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--child", nargs=2, metavar=("CASE", "ALLOCATOR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if min(args.processes, args.steps) < 1:
        parser.error("--processes and --steps must be at least 1")
    if args.child:
        print(json.dumps(measure(*args.child, args.steps)))
        return
    torch.set_num_threads(1)
    print(describe())
    print(f"{args.processes} fresh processes per row, {args.steps} steps each, 1 thread")
    print(f"{'case':<10}{'malloc':>7}{'ms/step':>9}{'range':>13}{'kernel':>8}{'faults':>8}")
    for case in CASES:
        runs = {"glibc": [], "kept": []}
        for _ in range(args.processes):
            for allocator, results in runs.items():
                results.append(in_fresh_process(case, allocator, args.steps))
        medians = {}
        for allocator, results in runs.items():
            wall = np.array([r["wall"] for r in results]) * 1000
            system = sum(r["system"] for r in results)
            kernel = system / (system + sum(r["user"] for r in results))
            faults = np.median([r["faults"] for r in results])
            medians[allocator] = float(np.median(wall))
            print(
                f"{case:<10}{allocator:>7}{medians[allocator]:>9.1f}"
                f"{f'{wall.min():.1f}-{wall.max():.1f}':>13}{kernel:>8.1%}{faults:>8.0f}"
            )
        print(f"{case:<10}{'':>7}{'kept is':>9} {medians['glibc'] / medians['kept']:.2f}x faster")


if __name__ == "__main__":
    main()
