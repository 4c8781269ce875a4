"""Env-steps per second of grid-world ES generations: the plain model against MemoryProcessors.

    python -m benchmarks.memory_rollout [--generations 3] [--rounds 1 2 3] [--threads 1]

The grid world's default evolution preset (its tiny model, popsize 32 x 24 treasure cells x
m = 8 seeds per generation) trains for a few generations, timed after one warm-up generation:
the plain model with the engine's fused `PopulationDecoder`, then with the `VmapDecoder`
(`torch.vmap` of the model's own ``step``), then the MemoryProcessor of the same preset with T
rounds, which the engine decodes with the `VmapDecoder`. Env-steps are counted from the
returns (-1 per step).
"""

from __future__ import annotations

import argparse
import os
import time

import torch

import randgym  # noqa: F401
from agents.evolution.decoder import VmapDecoder
from agents.evolution.run import Evolution, EvolveConfig
from agents.tasks import GridTask
from benchmarks.machine import describe


def steps_per_second(run: Evolution, generations: int) -> float:
    """Env-steps/s of `generations` ES generations of `run`, after one warm-up generation."""
    run.step()
    n_episodes = run.config.es["popsize"] * len(run.generation_instances()) * run.config.m
    steps, began = 0.0, time.perf_counter()
    for _ in range(generations):
        steps -= run.step()["return_mean"] * n_episodes
    return steps / (time.perf_counter() - began)


def main() -> None:
    """Time the plain model (fused and vmap decoders) and each T; print env-steps/s."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=3)
    parser.add_argument("--rounds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {describe()}; load average {os.getloadavg()[0]:.2f}")
    preset = GridTask.evolution_presets["default"]
    plain, fused = Evolution(EvolveConfig(**preset)), None
    vmap = Evolution(EvolveConfig(**preset))
    vmap.engine.decoder = VmapDecoder
    runs = {"plain tiny model, fused decoder": plain, "plain tiny model, vmap decoder": vmap}
    for rounds in args.rounds:
        config = EvolveConfig(**{**preset, "model": {"memory_rounds": rounds}})
        runs[f"MemoryProcessor T={rounds}, vmap decoder"] = Evolution(config)
    for name, run in runs.items():
        rate = steps_per_second(run, args.generations)
        fused = fused or rate
        print(f"{name:36} {rate:10,.0f} env-steps/s ({fused / rate:4.1f}x slower than fused)")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
