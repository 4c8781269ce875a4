"""How many candidates the engine should compute at once: cache-sized blocks against large ones.

    python -m benchmarks.engine_blocks [--popsize 100] [--rounds 2] [--threads 1]

The engine splits a generation into blocks of candidates: the grid world's decoder by the
attention state a block reads per layer and step (`decoder.BLOCK_STATE_ELEMENTS`), the one-shot
envs' forward by its activation elements (`engine.ONE_SHOT_ELEMENTS`). This script plays the
same generation with the defaults (2**20 elements, 4 MB in float32) and with 16x larger blocks
(2**24, about what the engine used before: 8192 slots per block, 2**24 one-shot elements),
alternating the two `--rounds` times in this process, and prints the best rate of each, their
ratio, and whether the returns are equal. Models: the paper grid model with softmax and with
linear attention, the grid's tiny default model, the recall and coloring paper presets.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np
import torch

import randgym  # noqa: F401
from agents.evolution import decoder as decoder_module
from agents.evolution import engine as engine_module
from agents.evolution.engine import RolloutEngine
from agents.models.memory import build_model
from agents.models.population import flatten_parameters
from agents.tasks import make_task
from benchmarks.machine import describe

SMALL, LARGE = 2**20, 2**24

# (label, task, model preset, config overrides, instances, policy seeds, population scale)
CASES = [
    ("grid, paper model, softmax", "grid", "paper", {"attention": "softmax"}, 24, 10, 1.0),
    ("grid, paper model, linear", "grid", "paper", {"attention": "linear"}, 24, 10, 1.0),
    ("grid, tiny model (make demo)", "grid", "tiny", {}, 24, 8, 1.0),
    ("recall N=15, paper preset", "recall", "paper", {}, 128, 10, 0.64),
    ("coloring C_10, paper preset", "coloring", "paper", {}, 256, 10, 0.64),
]


def set_blocks(elements: int) -> None:
    """Sets both block bounds of the engine."""
    decoder_module.BLOCK_STATE_ELEMENTS = elements
    engine_module.ONE_SHOT_ELEMENTS = elements


def generation(case: tuple, popsize: int) -> Callable[[], torch.Tensor]:
    """A function playing one generation of the case: its returns (P, I, M)."""
    _, name, preset, overrides, n_instances, n_seeds, scale = case
    task = make_task(name)
    options = {"visited_map": False} if name == "grid" else {}
    player = task.make_player(**options)
    config = task.model_config(preset, player_options=options, **overrides)
    generator = torch.Generator().manual_seed(0)
    model = build_model(config, generator)
    engine = RolloutEngine(model, task.env.dynamics, player)
    if name == "grid":  # every treasure cell
        instances = task.generator.instances_from_indices(np.arange(n_instances))
    else:
        instances = task.generator.sample_batch(np.random.default_rng(0), n_instances)
    length = player.length if config.seed_mode == "per_token_uniform" else None
    seeds = model.sample_policy_seed(n_seeds, generator, length)
    center = flatten_parameters(model)
    n_members = max(1, round(scale * popsize))
    population = center + 0.03 * torch.randn(n_members, center.numel(), generator=generator)
    engine.play(population[:2], instances, seeds)  # warm-up
    return lambda: engine.play(population, instances, seeds).returns


def main() -> None:
    """Time each case with small and large blocks, alternating; print the rates and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--popsize", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {describe()}; load average {os.getloadavg()[0]:.2f}")
    for case in CASES:
        play = generation(case, args.popsize)
        best, returns = {SMALL: 0.0, LARGE: 0.0}, {}
        for _ in range(args.rounds):
            for elements in (SMALL, LARGE):
                set_blocks(elements)
                start = time.perf_counter()
                returns[elements] = play()
                rate = returns[elements].numel() / (time.perf_counter() - start)
                best[elements] = max(best[elements], rate)
        same = torch.equal(returns[SMALL], returns[LARGE])
        print(
            f"{case[0]:30s} episodes/s: 2^20 {best[SMALL]:10,.0f}  2^24 {best[LARGE]:10,.0f}"
            f"  ratio {best[SMALL] / best[LARGE]:.2f}x  equal returns {same}"
        )
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
