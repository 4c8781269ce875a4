"""The machine's measured memory bandwidth: GB/s of large tensor copies.

    python -m benchmarks.memory_bandwidth [--threads 1 2] [--megabytes 256]

A copy of a tensor much larger than the CPU caches reads and writes every byte through
main memory; ``copy_gbs`` counts both (2 x the size per copy). Benchmarks import it to state
how long a workload's unavoidable memory traffic takes.
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks.matmul_peak import on_threads


def copy_gbs(threads: int, megabytes: int = 256, repeats: int = 5) -> float:
    """The best GB/s (bytes read plus bytes written) of copying `megabytes` on `threads`."""
    source = torch.ones(megabytes * 2**20 // 4)
    target = torch.empty_like(source)

    def measure() -> float:
        target.copy_(source)  # warm-up: every page mapped
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            target.copy_(source)
            best = min(best, time.perf_counter() - start)
        return 2 * source.nbytes / best / 1e9

    return on_threads(threads, measure)


def main() -> None:
    """Print the GB/s of each thread count."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--megabytes", type=int, default=256)
    args = parser.parse_args()
    for threads in args.threads:
        print(f"{threads} thread(s): {copy_gbs(threads, args.megabytes):.1f} GB/s copied")


if __name__ == "__main__":
    main()
