"""Speed of one q-norm training step (forward, backward, AdamW) against the obvious forward.

    python -m benchmarks.train_step [--threads 1] [--steps 20] [--clock cpu] [--compile]

``Trainer.step`` of the paper-sized models (fresh data, forward, q-norm, backward, clipping,
AdamW). Recall (N = 15, m = 30, batch 512, 256 and 128) runs ``SeededTransformer.forward_last``
("fast": the embedding once per (seed, vocabulary entry), narrow gathered attention features,
the last query only) against the obvious path ("plain": the full ``forward`` on raw tokens,
read at the last position), in this one run; coloring (C_10, batch 256, m = 10) runs
``SeededTransformer.forward_cycle`` ("fast": the vertices in cycle order, each attending its
two neighbours by rolled keys and values) against the full ``forward`` with the adjacency as
an N x N mask, and N x N products in the loss and the success check ("plain"). ``--compile``
adds the task's own ``torch.compile``d step ("compiled", the fast path; for coloring, eager
steps take the masked forward pass, see ``ColoringTask.logits``) and the compiled plain step
("plain+c").
Reported: ms per step, tokens per second (inputs x seeds x positions), the speed-up over
plain, the model's GFLOP/s and their fraction of the machine's measured matmul peak
("model"), and the fraction the path's own matmuls reach ("done",
``torch.utils.flop_counter``). The model's work is ``benchmarks.model_flops``: the matmuls
of the forward and backward passes without masked attention pairs and unread positions,
which a dense step computes for nothing; a path that skips more (the fast paths) gets the
model's count all the same. Times are medians of the process's CPU clock (``--clock cpu``,
the default: robust on a machine shared with other jobs, for 1 thread) or of the wall clock
(``--clock wall``); the peak is measured with the same clock. Two copies side by side
(``&``) show whether the speed holds on a busy machine. Like ``scripts/train_qnorm.py``, the
benchmark lets malloc keep freed memory (``agents.runs.allocator``; ``benchmarks.allocator``
measures what that changes).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from agents.models.transformer import SeededTransformer
from agents.runs.allocator import keep_freed_memory
from agents.supervised.trainer import TrainConfig, Trainer
from agents.tasks import ColoringTask, RecallTask, Task
from agents.tasks.coloring.task import coloring_loss
from benchmarks.machine import describe
from benchmarks.matmul_peak import peak_gflops
from benchmarks.model_flops import Workload, step_flops


class PlainRecallTask(RecallTask):
    """Recall through the obvious path: the full forward on raw tokens, read at the end."""

    def logits(self, model: SeededTransformer, batch: dict, policy_seed: torch.Tensor):
        """Logits (B, S, d) at the last position of the full forward pass."""
        return model(self.tokens(batch), policy_seed)[:, :, -1]


class PlainColoringTask(ColoringTask):
    """Coloring through the obvious path: the full forward with the adjacency as the mask."""

    def logits(self, model: SeededTransformer, batch: dict, policy_seed: torch.Tensor):
        """Logits (B, S, N, 3) by vertex of the full forward pass, compiled too."""
        return self.vertex_logits(model, batch, policy_seed)

    def loss(self, logits: torch.Tensor, batch: dict) -> torch.Tensor:
        """The loss from N x N products of the colors' probabilities."""
        return coloring_loss(logits, batch["adjacency"].unsqueeze(1))

    def correct(self, prediction: torch.Tensor, batch: dict) -> torch.Tensor:
        """Whether colorings (B, K, N) by vertex leave no edge of the N x N adjacency one color."""
        same = prediction.unsqueeze(-1) == prediction.unsqueeze(-2)  # (B, K, N, N)
        return ~(same & batch["adjacency"].unsqueeze(1)).any(dim=(-1, -2))


class CycleColoringTask(ColoringTask):
    """Coloring through ``forward_cycle`` in eager mode too (the task takes it compiled only)."""

    def logits(self, model: SeededTransformer, batch: dict, policy_seed: torch.Tensor):
        """Logits (B, S, N, 3) of ``SeededTransformer.forward_cycle``."""
        return self.cycle_logits(model, batch, policy_seed)


def workload(task: Task) -> Workload:
    """Recall reads the last of N + 1 causal tokens; coloring every vertex of two neighbours."""
    if isinstance(task, RecallTask):
        length = task.n_pairs + 1
        return Workload(length, length * (length + 1) // 2, read=1, read_pairs=length)
    return Workload(task.n_vertices, 2 * task.n_vertices, task.n_vertices, 2 * task.n_vertices)


def step_function(task: Task, batch_size: int, n_seeds: int, compile: bool) -> Callable:
    """``Trainer.step`` of a fresh paper-sized model (q-norm, AdamW, clipping, fresh data)."""
    config = TrainConfig.for_task(task, batch_size=batch_size, n_seeds=n_seeds)
    generator = torch.Generator().manual_seed(0)
    model = SeededTransformer(task.model_config(), generator)
    rng = np.random.default_rng(0)
    return Trainer(task, model, config, generator, rng, compile=compile).step


def time_step(step: Callable, steps: int, clock: Callable[[], float]) -> float:
    """Median seconds per call after two warm-up calls."""
    step(), step()
    times = []
    for _ in range(steps):
        start = clock()
        step()
        times.append(clock() - start)
    return float(np.median(times))


def matmul_flops(step: Callable) -> int:
    """Matmul FLOPs of one call (forward and backward)."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def main() -> None:
    """Time the cases and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    peak = peak_gflops(args.threads, clock=clock)
    print(describe())
    print(f"threads {args.threads}, {args.clock} clock; fp32 matmul peak {peak:.0f} GFLOP/s")
    print(
        f"{'case':<14}{'B':>5}{'m':>4}{'path':>9}{'ms/step':>9}{'tok/s':>11}{'x':>6}"
        f"{'GFLOP/s':>9}{'model':>7}{'done':>7}"
    )
    cases = [(15, 512, 30), (15, 256, 30), (15, 128, 30), (10, 256, 10)]
    for n, batch_size, n_seeds in cases:
        task = RecallTask(n) if n == 15 else ColoringTask(n)
        plain = PlainRecallTask(n) if n == 15 else PlainColoringTask(n)
        fast = task if n == 15 else CycleColoringTask(n)
        steps = {
            "plain": step_function(plain, batch_size, n_seeds, compile=False),
            "fast": step_function(fast, batch_size, n_seeds, compile=False),
        }
        done = {path: matmul_flops(step) for path, step in steps.items()}
        if args.compile:  # the same matmuls as their eager steps
            steps["compiled"] = step_function(task, batch_size, n_seeds, compile=True)
            steps["plain+c"] = step_function(plain, batch_size, n_seeds, compile=True)
            done["compiled"], done["plain+c"] = done["fast"], done["plain"]
        work = workload(task)
        flops = step_flops(task.model_config(), work, batch_size * n_seeds)
        seconds = {path: time_step(step, args.steps, clock) for path, step in steps.items()}
        name = f"recall N={n}" if n == 15 else f"coloring C{n}"
        for path, value in seconds.items():
            tokens = batch_size * n_seeds * work.length / value
            ratio = seconds["plain"] / value
            gflops = flops / value / 1e9
            print(
                f"{name:<14}{batch_size:>5}{n_seeds:>4}{path:>9}{1000 * value:>9.1f}"
                f"{tokens:>11.3g}{ratio:>6.1f}{gflops:>9.1f}{gflops / peak:>7.1%}"
                f"{done[path] / value / 1e9 / peak:>7.1%}"
            )


if __name__ == "__main__":
    main()
