"""Env-steps per second of the batched rollout engine against the vmap path and a plain loop.

    python -m benchmarks.rollout [--popsize 300] [--seeds 10] [--attention softmax] [--threads 2]
                                 [--checkpoint runs/evolve/checkpoint.pt]

One generation of the paper-sized grid model (2 blocks, 4 heads, key 10, width 80; or the
model of an `evolve.py` checkpoint, its candidates drawn around the trained center) with
popsize x 24 treasure cells x seeds episodes, played by the engine in lockstep with its fused
`PopulationDecoder`; then by the same engine with a slot per episode (no shared histories);
then with the previous decoder (`torch.vmap` of `SeededTransformer.step` over the stacked
candidates); then by the obvious alternative: a Python loop over `gym.Env` episodes with the
unbatched model decoding incrementally. All run in this process, back to back, on the same
model. The engine's FLOP/s counts the matmul FLOPs (`FlopCounterMode`) of every token the
decoder actually processed, at its position, against the matmul peak measured in the same
run. Target: >= 50 % of the matmul peak. The last lines bound that share: the generation's
time outside the decoder caps it whatever the decoder's speed; the attention state a step
must read (softmax: the keys and values so far; linear: its state, also written back) takes
time at the memory bandwidth measured in the same run, however the decoder is written; and a
slot per episode shows the share of a decoder that does more work.
"""

from __future__ import annotations

import argparse
import os
import time
from functools import partial

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

import randgym  # noqa: F401
from agents.evolution.decoder import PopulationDecoder, VmapDecoder, members_per_block
from agents.evolution.engine import RolloutEngine
from agents.evolution.run import Evolution
from agents.models.population import flatten_parameters, unflatten_parameters
from agents.models.transformer import SeededTransformer
from agents.tasks import GridTask
from agents.tasks.grid.player import GridPlayer, GridTransformerPolicy
from benchmarks.machine import describe
from benchmarks.matmul_peak import batched_matmul_gflops, peak_gflops
from benchmarks.memory_bandwidth import copy_gbs


class Tally:
    """Tokens, matmul FLOPs, attention-state bytes and seconds of counted decoder steps."""

    def __init__(self, flops_at: list[float]) -> None:
        self.flops_at = flops_at  # per sequence, of a step at each position
        self.tokens, self.flops, self.state_bytes, self.seconds = 0, 0.0, 0.0, 0.0


class CountingDecoder(PopulationDecoder):
    """The fused decoder, counting and timing what each step processes into a `Tally`."""

    def __init__(self, tally: Tally, *args) -> None:
        super().__init__(*args)
        self.tally = tally

    def state_bytes(self) -> int:
        """Bytes of attention state a step must move per sequence, at the least.

        Softmax attention reads the keys and values written so far, once; linear attention
        reads its key x key state and writes it back. Every layer, every head.
        """
        cfg = self.config
        per_head = 2 * cfg.key_size * ((self.position + 1) if self.softmax else cfg.key_size)
        return cfg.n_layers * cfg.n_heads * per_head * self.head.weight.element_size()

    def step(self, tokens: Tensor) -> Tensor:
        """Counts, then steps (timed)."""
        n_sequences = tokens.shape[0] * tokens.shape[1]
        self.tally.tokens += n_sequences
        self.tally.flops += n_sequences * self.tally.flops_at[self.position]
        self.tally.state_bytes += n_sequences * self.state_bytes()
        start = time.perf_counter()
        logits = super().step(tokens)
        self.tally.seconds += time.perf_counter() - start
        return logits


def flops_per_position(model: SeededTransformer, player: GridPlayer) -> list[float]:
    """Matmul FLOPs of one sequence's decoding step at each position (a prefix token's: 0)."""
    weights = unflatten_parameters(model, flatten_parameters(model)[None])
    decoder = PopulationDecoder(model, weights, player.length)
    decoder.start(model.sample_policy_seed(1, torch.Generator().manual_seed(0)), 1)
    flops = [0.0] * decoder.position
    token = torch.zeros(1, 1, player.input_dim)
    with torch.inference_mode():
        while decoder.position < decoder.length:
            with FlopCounterMode(display=False) as counter:
                decoder.step(token)
            flops.append(float(counter.get_total_flops()))
    return flops


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


def timed_generation(engine: RolloutEngine, population: Tensor, cells, seeds, tally=None):
    """The returns of one generation and its seconds, after a warm-up one (not tallied).

    The warm-up plays the same population, so the timed generation writes over the caches
    it left, as every generation of a run but the first does.
    """
    engine.play(population, cells, seeds)
    if tally is not None:
        tally.tokens, tally.flops, tally.seconds = 0, 0.0, 0.0
    start = time.perf_counter()
    returns = engine.play(population, cells, seeds).returns
    return returns, time.perf_counter() - start


def main() -> None:
    """Time the engine (fused and vmap decoders) and the plain loop; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--popsize", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--attention", default="softmax", choices=["softmax", "linear"])
    parser.add_argument("--plain-seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--skip-vmap", action="store_true", help="do not time the vmap decoder")
    parser.add_argument(
        "--checkpoint", help="an evolve.py checkpoint: its model (not --attention) and center"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    env = gym.make("RandAlg/GridExplore-v0").unwrapped
    generator = torch.Generator().manual_seed(0)
    if args.checkpoint:
        run, _ = Evolution.load(args.checkpoint)
        model, player, center = run.engine.model, run.engine.player, run.es.center.float()
        # the plain loop plays the model's own weights (its buffers stay as they are)
        model.load_state_dict(unflatten_parameters(model, center), strict=False)
    else:
        player = GridPlayer(env, visited_map=False)
        options = {"visited_map": False}
        config = GridTask().model_config(player_options=options, attention=args.attention)
        model = SeededTransformer(config, generator)
        center = flatten_parameters(model)
    config, dynamics = model.config, env.dynamics
    cells = env.generator.instances_from_indices(np.arange(env.generator.num_instances))
    seeds = model.sample_policy_seed(args.seeds, generator)
    population = center + 0.03 * torch.randn(args.popsize, center.numel(), generator=generator)
    print(f"machine: {describe()}; load average {os.getloadavg()[0]:.2f}")
    print(
        f"model: {config.n_layers} blocks, {config.n_heads} heads, key {config.key_size}, "
        f"width {config.width}, {config.attention} attention, {center.numel():,} parameters"
    )
    tally = Tally(flops_per_position(model, player))
    fused = RolloutEngine(model, dynamics, player, decoder=partial(CountingDecoder, tally))
    returns, seconds = timed_generation(fused, population, cells, seeds, tally)
    steps = -returns.sum().item()  # -1 per step: the return counts the steps
    print(
        f"generation: {args.popsize} x 24 x {args.seeds} episodes, {steps:,.0f} env-steps, "
        f"{tally.tokens:,} decoded tokens"
    )
    rate = steps / seconds
    print(f"engine, fused decoder {rate:12,.0f} env-steps/s ({seconds:.1f} s)")
    alone_tally = Tally(tally.flops_at)
    counting = partial(CountingDecoder, alone_tally)
    alone = RolloutEngine(model, dynamics, player, share_histories=False, decoder=counting)
    alone_returns, alone_seconds = timed_generation(alone, population, cells, seeds, alone_tally)
    print(
        f"engine, slot/episode  {steps / alone_seconds:12,.0f} env-steps/s ({alone_seconds:.1f} s, "
        f"{alone_tally.tokens:,} decoded tokens): shared histories {alone_seconds / seconds:.2f}x "
        f"faster, {100 * (alone_returns == returns).double().mean().item():.2f} % equal returns"
    )
    if not args.skip_vmap:
        vmap = RolloutEngine(model, dynamics, player, decoder=VmapDecoder)
        old_returns, old_seconds = timed_generation(vmap, population, cells, seeds)
        same = (old_returns == returns).double().mean().item()
        print(
            f"engine, vmap decoder  {steps / old_seconds:12,.0f} env-steps/s "
            f"({old_seconds:.1f} s): fused/vmap {old_seconds / seconds:.2f}x, "
            f"{100 * same:.2f} % equal returns"
        )
    plain = plain_loop_steps_per_second(model, player, cells, seeds, args.plain_seconds)
    print(f"plain loop            {plain:12,.0f} env-steps/s: engine/plain {rate / plain:.0f}x")
    achieved, threads = tally.flops / seconds / 1e9, torch.get_num_threads()
    peak = peak_gflops(threads)
    print(
        f"engine FLOP/s {achieved:6.1f} GFLOP/s = {100 * achieved / peak:.0f} % of the "
        f"measured matmul peak {peak:.1f} GFLOP/s (target >= 50 %); "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    decoder = tally.flops / tally.seconds / 1e9
    print(
        f"decoder steps {tally.seconds:.1f} s of the generation's {seconds:.1f} s "
        f"({100 * tally.seconds / seconds:.0f} %); the decoder alone: "
        f"{100 * decoder / peak:.0f} % of the peak"
    )
    outside = seconds - tally.seconds  # the env, the tokens, the slots' bookkeeping
    budget = tally.flops / (0.5 * peak * 1e9)  # the generation's seconds at 50 % of the peak
    needed = (
        f"its decoder alone would need {50 * budget / (budget - outside):.0f} % of the peak"
        if budget > outside
        else "no decoder, however fast, is enough"
    )
    print(
        f"bound: the work outside the decoder takes {outside:.1f} s; an instant decoder would "
        f"reach {100 * tally.flops / outside / 1e9 / peak:.0f} % of the peak; for the engine "
        f"to reach 50 %, {needed}"
    )
    bandwidth = copy_gbs(threads)
    traffic = tally.state_bytes / bandwidth / 1e9  # seconds, at the measured bandwidth
    gemms = tally.flops / peak / 1e9  # seconds, at the matmul peak
    print(
        f"floor: the attention state alone moves {tally.state_bytes / 1e9:.1f} GB, "
        f"{traffic:.2f} s at the {bandwidth:.1f} GB/s a copy reaches here; with the GEMMs at the "
        f"peak ({gemms:.2f} s) the engine could reach at most "
        f"{100 * gemms / (gemms + traffic + outside):.0f} % of the peak (with the work outside "
        f"the decoder as it is), {100 * gemms / (gemms + traffic):.0f} % with none"
    )
    per_episode = alone_tally.flops / alone_seconds / 1e9
    print(
        f"a slot per episode decodes {alone_tally.tokens / tally.tokens:.1f}x the tokens at "
        f"{100 * per_episode / peak:.0f} % of the peak, {alone_seconds / seconds:.2f}x slower"
    )
    rows = 24 * args.seeds  # slots per candidate before any episode ends
    members = members_per_block(config, rows, config.n_prefix)  # candidates per GEMM
    shapes = {"qkv": 3 * config.n_heads * config.key_size, "mlp": 4 * config.width}
    ceilings = []
    for name, cols in shapes.items():
        gflops = batched_matmul_gflops(members, rows, config.width, cols, threads)
        ceilings.append(f"{name} {100 * gflops / peak:.0f} %")
    print(
        f"ceiling: the decoder's GEMMs alone ({members} candidates x {rows} slots, width "
        f"{config.width}), as % of the peak: {', '.join(ceilings)}"
    )


if __name__ == "__main__":
    main()
