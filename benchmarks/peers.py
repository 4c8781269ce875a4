"""Our ES stack against EvoTorch's PGPE on the grid world: env-steps/s and the worst case reached.

    python -m benchmarks.peers [--generations 3] [--popsize 64] [--m 2] [--threads 1]

Needs the optional extra ``bench`` (``pip install -e .[bench]``: EvoTorch).

Both sides train the grid task's "small" transformer from the same initial weights with PGPE
(the same rates: center lr 0.01 with Adam, std lr 0.01, init std 0.03, centered ranks,
mirrored pairs) for the same number of generations, and every candidate of a generation
plays the same episodes: all 24 treasure cells under the same m policy seeds (a fresh draw
per generation from the same stream on both sides). The fitness is the same too: the worst
cell's seed-averaged return (q = inf).

Ours: `agents.evolution.run.Evolution`, the population played in lockstep by the batched
rollout engine. The peer: EvoTorch's `PGPE` with its gym problem class `GymNE`, kept in one
process (``num_actors=None``, no Ray actors), so both figures are per-process speeds. GymNE
plays one `gym.Env` episode at a time; its policy is a `torch.nn.Module`
(`SeededTransformerPolicy`) around the same transformer, decoding one token per step with
its cache carried as EvoTorch's recurrent hidden state. Each episode's treasure cell and
policy seed come from `ScheduledGridEnv`, a wrapper that walks through the 24 x m episodes
of the generation, so the peer plays exactly our episodes. GymNE's own fitness is the mean
return over ``num_episodes``; `WorstCaseGymNE` replaces it by ours (the same episodes, one
`GymNE.run` each), which does not change how episodes are played. Finally both centers are
evaluated by our engine on all 24 cells under the same fresh policy seeds.
"""

from __future__ import annotations

import argparse
import copy
import time
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

import randgym  # noqa: F401  (registers the envs)
from agents.evolution.run import Evolution, EvolveConfig, fitness_from_returns
from agents.models.population import flatten_parameters
from agents.models.transformer import DecodeCache, SeededTransformer
from agents.runs.runtime import keep_freed_memory
from agents.tasks.grid.player import GridPlayer
from benchmarks.machine import describe

try:
    from evotorch.algorithms import PGPE
    from evotorch.neuroevolution import GymNE
except ImportError as error:  # the optional extra is missing
    raise SystemExit("benchmarks.peers needs EvoTorch: pip install -e '.[bench]'") from error


class ScheduledGridEnv(gym.Wrapper):
    """`GridExplore-v0` playing a fixed schedule of episodes: every cell under every seed.

    Episode k (counted from `restart`) hides the treasure in cell ``k % I`` and runs under
    policy seed ``k // I % m``. An observation is the player's token followed by the
    episode's policy seed, a flat float32 vector (GymNE needs a `Box` observation space).

    Args:
        player: Makes the tokens.
        seed_dim: Features of one policy seed.
    """

    def __init__(self, player: GridPlayer, seed_dim: int) -> None:
        super().__init__(gym.make("RandAlg/GridExplore-v0").unwrapped)
        self.player = player
        self.cells = list(self.env.generator.instances())
        size = player.input_dim + seed_dim
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)
        self.seeds = np.zeros((1, seed_dim), np.float32)
        self.episode = 0

    def restart(self, seeds: Tensor | None = None) -> None:
        """Starts the schedule again from episode 0, with new policy seeds (m, seed_dim)."""
        if seeds is not None:
            self.seeds = seeds.numpy().astype(np.float32)
        self.episode = 0

    @property
    def n_episodes(self) -> int:
        """Episodes of the schedule: every cell under every seed."""
        return len(self.cells) * len(self.seeds)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Starts the schedule's next episode (the cell of the schedule, not `options`)."""
        del options
        cell = self.cells[self.episode % len(self.cells)]
        self._seed = self.seeds[self.episode // len(self.cells) % len(self.seeds)]
        self.episode += 1
        obs, info = self.env.reset(seed=seed, options={"instance": cell})
        return self._observation(obs), info

    def step(self, action):
        """One move; the observation as in `reset`."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._observation(obs), reward, terminated, truncated, info

    def _observation(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        batch = {key: np.asarray(value)[None] for key, value in obs.items()}
        return np.concatenate([self.player.tokens(batch)[0].numpy(), self._seed])


class SeededTransformerPolicy(nn.Module):
    """The transformer as an EvoTorch recurrent policy: (observation, cache) -> (logits, cache).

    The observation is a `ScheduledGridEnv` one: the token, then the episode's policy seed,
    read when the episode starts (no cache yet). The transformer is the only submodule, so
    the parameters are in `flatten_parameters` order.

    Args:
        model: The transformer (its own parameters are the policy's).
        input_dim: Features of a token.
    """

    def __init__(self, model: SeededTransformer, input_dim: int) -> None:
        super().__init__()
        self.model, self.input_dim = model, input_dim

    def forward(self, obs: Tensor, cache: DecodeCache | None = None) -> tuple[Tensor, DecodeCache]:
        """The 4 move logits for one observation, and the cache after it."""
        if cache is None:
            cache = self.model.init_cache(1, obs[None, self.input_dim :])
        logits, cache = self.model.step(obs[None, None, : self.input_dim], cache)
        return logits[0, 0], cache


class WorstCaseGymNE(GymNE):
    """GymNE with our fitness: the q-norm over cells of the seed-averaged return.

    Args:
        q: The norm over cells (inf: the worst cell).
        max_return: No episode returns more (the loss is ``max_return - return``).
        **kwargs: GymNE's.
    """

    def __init__(self, q: float, max_return: float, **kwargs: Any) -> None:
        self.q, self.max_return = q, max_return
        super().__init__(**kwargs)

    def _evaluate_network(self, policy: nn.Module) -> Tensor:
        env: ScheduledGridEnv = self.get_env()
        env.restart()
        returns = [
            self.run(policy, update_stats=True, num_episodes=1)["cumulative_reward"]
            for _ in range(env.n_episodes)
        ]
        per_seed = torch.tensor(returns).view(len(env.seeds), len(env.cells))  # (m, I)
        return fitness_from_returns(per_seed.T[None], self.q, self.max_return)[0]


def make_peer(run: Evolution) -> tuple[WorstCaseGymNE, PGPE]:
    """EvoTorch's problem and PGPE, set up like `run` and starting at its initial center."""
    player, config = run.player, run.es.config
    if not isinstance(player, GridPlayer):
        raise ValueError(f"env {run.config.env_id!r} is not the grid world; expected GridExplore")
    seed_dim = run.model.config.seed_dim
    policy = SeededTransformerPolicy(copy.deepcopy(run.model), player.input_dim)
    problem = WorstCaseGymNE(
        q=run.config.q,
        max_return=player.max_return,
        env=lambda: ScheduledGridEnv(player, seed_dim),
        network=policy,
        num_actors=None,  # one process: no Ray actors
    )
    problem.manual_seed(run.config.seed)  # the problem's own generator draws PGPE's noise
    searcher = PGPE(
        problem,
        popsize=config.popsize,
        center_learning_rate=config.center_lr,
        stdev_learning_rate=config.std_lr,
        stdev_init=config.sigma_init,
        stdev_min=config.sigma_min,
        stdev_max_change=config.sigma_max_change,
        optimizer="adam",
        ranking_method="centered",
        center_init=run.es.center.clone(),
        symmetric=True,
    )
    return problem, searcher


@dataclass(frozen=True)
class Timing:
    """Env-steps played in a stretch of wall-clock and process CPU time."""

    steps: float
    wall: float  # seconds
    cpu: float  # seconds of this process (all its threads)


class Stopwatch:
    """Wall-clock and process CPU time since it was made."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def timing(self, steps: float) -> Timing:
        """`steps` env-steps played since the start."""
        return Timing(steps, time.perf_counter() - self.wall, time.process_time() - self.cpu)


def train_ours(run: Evolution, generations: int) -> Timing:
    """Runs `generations` generations; returns their env-steps and time."""
    episodes = run.es.config.popsize * len(run.evaluation_instances) * run.config.m
    steps, stopwatch = 0.0, Stopwatch()
    for _ in range(generations):
        steps -= run.step()["return_mean"] * episodes  # every step returns -1
    return stopwatch.timing(steps)


def train_peer(
    problem: WorstCaseGymNE, searcher: PGPE, seeds: Evolution, generations: int
) -> Timing:
    """Runs `generations` generations, each on the next policy seeds of `seeds`' stream."""
    env: ScheduledGridEnv = problem.get_env()
    steps_before, stopwatch = problem.interaction_count, Stopwatch()
    for _ in range(generations):
        env.restart(seeds.policy_seeds())
        searcher.step()
    return stopwatch.timing(problem.interaction_count - steps_before)


def worst_and_average(run: Evolution, center: Tensor, n_seeds: int) -> tuple[float, float]:
    """The worst cell's and the average seed-averaged return of `center`, by our engine."""
    seeds = run.evaluation_seeds(n_seeds)
    returns = run.evaluator.returns(center[None], run.evaluation_instances, seeds)[0]  # (I, n)
    per_cell = returns.mean(dim=1)
    return per_cell.min().item(), per_cell.mean().item()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=3)
    parser.add_argument("--popsize", type=int, default=64)
    parser.add_argument("--m", type=int, default=2, help="policy seeds per generation")
    parser.add_argument("--eval-seeds", type=int, default=100, help="seeds of the evaluation")
    parser.add_argument("--seed", type=int, default=0, help="initial weights, ES, seed stream")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (both sides)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    config = EvolveConfig(
        model_preset="small", es={"popsize": args.popsize}, m=args.m,
        generations=args.generations, seed=args.seed,
    )  # fmt: skip
    ours, peer_run = Evolution(config), Evolution(config)  # the same weights and seed stream
    problem, searcher = make_peer(peer_run)
    worst, average = worst_and_average(ours, ours.es.center, args.eval_seeds)
    print(f"machine: {describe()}")
    print(
        f"problem: GridExplore-v0, 'small' model ({flatten_parameters(ours.model).numel():,} "
        f"parameters), PGPE popsize {args.popsize}, 24 cells x {args.m} seeds per candidate, "
        f"q = inf, {args.generations} generations; the start: worst cell {worst:.2f}, "
        f"average {average:.2f} ({args.eval_seeds} evaluation seeds)"
    )
    rows = []
    for name, train, center in (
        ("ours (Evolution)", lambda: train_ours(ours, args.generations), lambda: ours.es.center),
        (
            "EvoTorch PGPE+GymNE",
            lambda: train_peer(problem, searcher, peer_run, args.generations),
            lambda: torch.as_tensor(searcher.status["center"]).as_subclass(Tensor).clone(),
        ),
    ):
        timing = train()
        print(f"{name}: {timing.steps:,.0f} env-steps in {timing.wall:.1f} s", flush=True)
        rows.append((name, timing, worst_and_average(ours, center(), args.eval_seeds)))
    print(f"\n{'':20s} {'env-steps/s':>12s} {'per CPU-s':>10s} {'worst cell':>10s} {'average':>8s}")
    for name, timing, (worst, average) in rows:
        wall_rate, cpu_rate = timing.steps / timing.wall, timing.steps / timing.cpu
        print(f"{name:20s} {wall_rate:12,.0f} {cpu_rate:10,.0f} {worst:10.2f} {average:8.2f}")
    (_, our, _), (_, peer, _) = rows
    print(
        f"ratio {our.steps / our.wall / (peer.steps / peer.wall):.1f}x in env-steps/s, "
        f"{our.steps / our.cpu / (peer.steps / peer.cpu):.1f}x per CPU-second "
        "(target >= 10x at an equal or better worst case)"
    )


if __name__ == "__main__":
    main()
