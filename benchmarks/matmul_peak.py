"""The machine's measured fp32 matmul peak: GFLOP/s of square torch matmuls at a few sizes.

    python -m benchmarks.matmul_peak [--threads 1 2] [--sizes 256 512 1024 2048]

Prints one row per (threads, size) with the best of ``--repeats`` timings, by the wall clock
and by the process's CPU clock (on a machine shared with other jobs the CPU clock of a
1-thread run is the robust one); ``peak_gflops`` is the function other benchmarks import to
state a "fraction of peak".
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch


def _best_gflops(
    run: Callable[[], object], flops: float, repeats: int, clock: Callable[[], float]
) -> float:
    """The best GFLOP/s of `run` (`flops` per call) over `repeats` timings of about 2 GFLOP."""
    calls = max(1, int(2e9 // flops))
    run()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        for _ in range(calls):
            run()
        best = min(best, (clock() - start) / calls)
    return flops / best / 1e9


def on_threads(threads: int, measure: Callable[[], float]) -> float:
    """`measure()` on `threads` torch threads; the thread count is restored after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return measure()
    finally:
        torch.set_num_threads(previous)


def matmul_gflops(
    size: int, threads: int, repeats: int = 5, clock: Callable[[], float] = time.perf_counter
) -> float:
    """The best GFLOP/s of ``size x size`` fp32 matmuls on ``threads`` CPU threads.

    ``clock`` is ``time.perf_counter`` (wall) or ``time.process_time`` (CPU of this process).
    """
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(size, size, generator=generator) for _ in range(2))
    out = torch.empty(size, size)

    def run() -> None:
        torch.mm(a, b, out=out)

    return on_threads(threads, lambda: _best_gflops(run, 2 * size**3, repeats, clock))


def batched_matmul_gflops(
    batch: int,
    rows: int,
    inner: int,
    cols: int,
    threads: int,
    repeats: int = 5,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """The best GFLOP/s of ``torch.baddbmm`` over `batch` (rows x inner) @ (inner x cols)."""
    generator = torch.Generator().manual_seed(0)
    h = torch.randn(batch, rows, inner, generator=generator)
    weight = torch.randn(batch, inner, cols, generator=generator)
    bias, out = torch.randn(batch, 1, cols, generator=generator), torch.empty(batch, rows, cols)

    def run() -> None:
        torch.baddbmm(bias, h, weight, out=out)

    flops = 2 * batch * rows * inner * cols
    return on_threads(threads, lambda: _best_gflops(run, flops, repeats, clock))


def peak_gflops(
    threads: int,
    sizes: tuple[int, ...] = (256, 512, 1024),
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """The highest measured GFLOP/s over ``sizes``: the peak to compare a workload with."""
    return max(matmul_gflops(size, threads, clock=clock) for size in sizes)


def main() -> None:
    """Print the GFLOP/s table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, fp32 square matmul, best of {args.repeats}")
    print(f"{'threads':>8}{'size':>8}{'GFLOP/s wall':>14}{'GFLOP/s CPU':>13}")
    for threads in args.threads:
        for size in args.sizes:
            wall = matmul_gflops(size, threads, args.repeats)
            cpu = matmul_gflops(size, threads, args.repeats, clock=time.process_time)
            print(f"{threads:>8}{size:>8}{wall:>14.1f}{cpu:>13.1f}")


if __name__ == "__main__":
    main()
