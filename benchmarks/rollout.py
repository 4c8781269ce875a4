"""Env-steps per second of the batched rollout engine against a plain loop, and its FLOP/s.

    python -m benchmarks.rollout [--popsize 300] [--seeds 10] [--attention softmax]

One generation of the paper-sized grid model (2 blocks, 4 heads, key 10, width 80) with
popsize x 24 treasure cells x seeds episodes, played by the engine in lockstep, against
the obvious alternative: a Python loop over `gym.Env` episodes with the unbatched model
decoding incrementally. Both run in this process, on the same model. The engine's FLOP/s
counts the model FLOPs of every token it processes, against the measured matmul peak.
Targets: >= 100x env-steps/s, >= 25 % of the matmul peak.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

import randgym  # noqa: F401
from agents.evolution.engine import RolloutEngine
from agents.models.population import flatten_parameters
from agents.models.transformer import SeededTransformer
from agents.runs.runtime import keep_freed_memory
from agents.tasks import GridTask
from agents.tasks.grid.player import GridPlayer, GridTransformerPolicy
from benchmarks.machine import describe
from benchmarks.matmul_peak import peak_gflops


def plain_loop_steps_per_second(model, player, cells, seeds, seconds: float) -> float:
    """Env-steps/s of one gym.Env episode at a time with the unbatched model."""
    env = gym.make("RandAlg/GridExplore-v0")
    steps, episode, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        policy = GridTransformerPolicy(model, player, seeds[episode % len(seeds)])
        obs, _ = env.reset(options={"instance": cells[episode % len(cells)]})
        done = False
        while not done:
            obs, _, done, _, _ = env.step(policy(obs))
            steps += 1
        episode += 1
    return steps / (time.perf_counter() - start)


def flops_per_token(model: SeededTransformer, player: GridPlayer) -> float:
    """Model FLOPs of one decoding step of one sequence, averaged over a 50-step episode."""
    seeds = model.sample_policy_seed(1, torch.Generator().manual_seed(0))
    cache = model.init_cache(100, seeds)
    token = torch.zeros(100, 1, player.input_dim)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        for _ in range(50):
            _, cache = model.step(token, cache)
    return counter.get_total_flops() / (100 * 50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--popsize", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--attention", default="softmax", choices=["softmax", "linear"])
    parser.add_argument("--plain-seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    keep_freed_memory()
    if args.threads:
        torch.set_num_threads(args.threads)
    env = gym.make("RandAlg/GridExplore-v0").unwrapped
    player, dynamics = GridPlayer(env, visited_map=False), env.dynamics
    options = {"visited_map": False}
    config = GridTask().model_config(player_options=options, attention=args.attention)
    generator = torch.Generator().manual_seed(0)
    model = SeededTransformer(config, generator)
    engine = RolloutEngine(model, dynamics, player)
    cells = np.stack([(c % 5, c // 5) for c in range(1, 25)])
    seeds = model.sample_policy_seed(args.seeds, generator)
    center = flatten_parameters(model)
    population = center + 0.03 * torch.randn(args.popsize, center.numel(), generator=generator)
    print(f"machine: {describe()}")
    print(
        f"model: {config.n_layers} blocks, {config.n_heads} heads, key {config.key_size}, "
        f"width {config.width}, {config.attention} attention, {center.numel():,} parameters"
    )
    engine.play(population[:4], cells, seeds)  # warm-up
    start = time.perf_counter()
    rollouts = engine.play(population, cells, seeds, record=True)
    seconds = time.perf_counter() - start
    steps = -rollouts.returns.sum().item()  # -1 per step: the return counts the steps
    tokens = rollouts.phases.size  # every sequence is stepped until all have ended
    engine_rate = steps / seconds
    plain_rate = plain_loop_steps_per_second(model, player, cells, seeds, args.plain_seconds)
    achieved = flops_per_token(model, player) * tokens / seconds / 1e9
    peak = peak_gflops(torch.get_num_threads())
    print(
        f"generation: {args.popsize} x 24 x {args.seeds} episodes, {steps:,.0f} env-steps "
        f"in {seconds:.1f} s"
    )
    print(f"engine     {engine_rate:12,.0f} env-steps/s")
    print(f"plain loop {plain_rate:12,.0f} env-steps/s")
    print(f"speed-up   {engine_rate / plain_rate:12.0f}x   (target >= 100x)")
    print(
        f"engine FLOP/s {achieved:6.1f} GFLOP/s = {100 * achieved / peak:.0f} % of the "
        f"measured matmul peak {peak:.1f} GFLOP/s (target >= 25 %)"
    )


if __name__ == "__main__":
    main()
