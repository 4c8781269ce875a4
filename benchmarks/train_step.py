"""Speed of one q-norm training step (forward, backward, AdamW) against the obvious forward.

    python benchmarks/train_step.py [--threads 1] [--steps 20]

Recall (N = 15, batch 512 and 256, m = 30) runs ``SeededTransformer.forward_last`` (the
embedding once per (seed, vocabulary entry), narrow gathered attention features, the last
query only) against the plain ``forward`` on raw tokens read at the last position; both train
the same model on the same data in this one run. Coloring (C_10, batch 256, m = 10) has one
path, the dense forward with the adjacency as mask. Reported: ms per step, tokens per second
(inputs x seeds x positions), the speed-up, and the achieved fraction of the machine's
measured matmul peak, counting the matmul FLOPs of the plain step
(``torch.utils.flop_counter``) as the work done.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from agents.qnorm import q_norm
from agents.tasks import ColoringTask, RecallTask, Task
from agents.transformer import SeededTransformer

sys.path.insert(0, str(Path(__file__).parent))
from matmul_peak import peak_gflops  # noqa: E402


def step_function(task: Task, batch_size: int, n_seeds: int, plain: bool) -> Callable[[], None]:
    """One q-norm training step on a fresh batch, the fast or the plain way."""
    generator = torch.Generator().manual_seed(0)
    model = SeededTransformer(task.model_config(), generator)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)

    def logits(batch: dict, policy_seed: torch.Tensor) -> torch.Tensor:
        if not plain or task.name != "recall":
            return task.logits(model, batch, policy_seed)
        return model(task.tokens(batch), policy_seed)[:, :, -1]

    def step() -> None:
        batch = task.sample(rng, batch_size)
        policy_seed = model.sample_policy_seed(n_seeds, generator, task.policy_seed_length)
        loss = q_norm(task.loss(logits(batch, policy_seed), batch), 10.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def time_step(step: Callable[[], None], steps: int) -> float:
    """Median seconds per call after two warm-up calls."""
    step(), step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def matmul_flops(step: Callable[[], None]) -> int:
    """Matmul FLOPs of one call (forward and backward)."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def main() -> None:
    """Time the cases and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    peak = peak_gflops(args.threads)
    cases = [
        ("recall N=15", RecallTask(15), 512, 30, 16),
        ("recall N=15", RecallTask(15), 256, 30, 16),
        ("coloring C10", ColoringTask(10), 256, 10, 10),
    ]
    print(f"threads {args.threads}; measured fp32 matmul peak {peak:.0f} GFLOP/s")
    print(f"{'case':<14}{'B':>5}{'m':>4}{'path':>7}{'ms/step':>9}{'tok/s':>11}{'x':>6}{'peak':>7}")
    for name, task, batch_size, n_seeds, length in cases:
        flops = matmul_flops(step_function(task, batch_size, n_seeds, plain=True))
        paths = ("plain", "fast") if task.name == "recall" else ("plain",)
        seconds = {
            path: time_step(step_function(task, batch_size, n_seeds, path == "plain"), args.steps)
            for path in paths
        }
        for path, value in seconds.items():
            tokens = batch_size * n_seeds * length / value
            ratio = seconds["plain"] / value
            fraction = flops / value / 1e9 / peak
            print(
                f"{name:<14}{batch_size:>5}{n_seeds:>4}{path:>7}{1000 * value:>9.1f}"
                f"{tokens:>11.3g}{ratio:>6.1f}{fraction:>7.1%}"
            )


if __name__ == "__main__":
    main()
