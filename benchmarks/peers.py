"""Our ES stack against EvoTorch's PGPE on the grid world: env-steps/s and the worst case reached.

    python -m benchmarks.peers [--preset default] [--generations 800] [--threads 1]

Needs the optional extra ``bench`` (``pip install -e .[bench]``: EvoTorch).

Both sides run the same recipe, an evolution preset of the grid task (``default``: the tiny
model, a pool of 8 policy seeds played whole, PGPE popsize 32, q = 1 for 40 generations then
q = 8), from the same initial center, for the same number of generations, and every candidate
of a generation plays the same episodes: all 24 treasure cells under the generation's policy
seeds, scored by the same fitness (the q-norm over cells of the seed-averaged return).

Ours: `agents.evolution.run.Evolution`, the population played in lockstep by the batched
rollout engine. The peer: EvoTorch's `PGPE` (the same rates, centered ranks, mirrored pairs,
Adam) on its vectorized gym problem class `VecGymNE`, in one process (``num_actors=None``).
VecGymNE gives each candidate one sub-env of a `gym.vector.VectorEnv` and plays that
candidate's episodes one after the other, all candidates in lockstep, its policy `torch.vmap`-ed
over the candidates' parameters. Here the vector env is `ScheduledGridVecEnv` (on the env's
batched rules), whose sub-envs walk through the generation's 24 x m episodes and pay the
candidate's fitness when the last one ends; the policy is `LinearAttentionPolicy`, the same
transformer decoding one token per step with its linear-attention state as EvoTorch's
recurrent hidden state. Before training, the script checks that the peer's episodes return
exactly what our engine's do for the initial center. Finally both centers are evaluated by our
engine on all 24 cells.
"""

from __future__ import annotations

import argparse
import logging
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
from agents.models.transformer import SeededTransformer
from agents.tasks import GridTask
from agents.tasks.grid.player import GridPlayer
from benchmarks.machine import describe

try:
    from evotorch.algorithms import PGPE
    from evotorch.neuroevolution import VecGymNE
except ImportError as error:  # the optional extra is missing
    raise SystemExit("benchmarks.peers needs EvoTorch: pip install -e '.[bench]'") from error


class ScheduledGridVecEnv(gym.vector.VectorEnv):
    """`num_envs` grid worlds, each playing the generation's schedule of episodes.

    Sub-env j plays episodes k = 0 .. I * m - 1 in turn: treasure cell ``k % I`` under policy
    seed ``k // I``. Each episode starts with a seed step (the observation carries the seed and
    a flag, the action is ignored, no env-step is played) so that the policy reads its seed
    token before the episode's first token. Episodes reset in the same step they end. Rewards
    are 0 except at the end of the schedule, which pays ``I * m`` times the candidate's fitness
    (VecGymNE divides a candidate's total by its episode count). Afterwards a sub-env idles and
    reports an (empty) ended episode every step, so that its policy state stays reset.

    Args:
        player: Makes the tokens.
        num_envs: Sub-envs (one per candidate).
    """

    def __init__(self, player: GridPlayer, num_envs: int, seeds: Tensor, q: float) -> None:
        self.player, self.num_envs = player, num_envs
        env = gym.make("RandAlg/GridExplore-v0").unwrapped
        self.dynamics, self.cells = env.dynamics, np.array(list(env.generator.instances()))
        self.schedule(seeds, q)
        self.env_steps = 0  # env-steps played (seed steps excluded)
        size = player.input_dim + seeds.shape[1] + 1
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)
        self.single_action_space = gym.spaces.Discrete(player.output_dim)
        self.observation_space = gym.vector.utils.batch_space(
            self.single_observation_space, num_envs
        )
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)

    def schedule(self, seeds: Tensor, q: float) -> None:
        """The policy seeds (m, seed_dim) and the norm of the next generation's schedule."""
        self.seeds, self.q = seeds.numpy().astype(np.float32), q

    @property
    def n_episodes(self) -> int:
        """Episodes of a schedule: every cell under every seed."""
        return len(self.cells) * len(self.seeds)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Every sub-env starts the schedule: episode 0's seed step."""
        del seed, options
        n = self.num_envs
        self.episode = np.zeros(n, np.int64)
        self.seed_step = np.ones(n, bool)
        self.returns = np.zeros((n, len(self.seeds), len(self.cells)))
        self.episode_return = np.zeros(n)
        self.state = self.dynamics.reset(self.cells[np.zeros(n, np.int64)])
        return self._observations(), {}

    def step(self, actions: np.ndarray):
        """One step of every sub-env (a seed step, an env-step, or idling once finished)."""
        n, cells = self.num_envs, len(self.cells)
        playing = ~self.seed_step & (self.episode < self.n_episodes)
        self.seed_step[:] = False
        result = self.dynamics.step(self.state, np.where(playing, actions, 0))
        self.state = type(self.state)(
            *(np.where(playing.reshape(-1, *[1] * (new.ndim - 1)), new, old)
              for new, old in zip(result.state, self.state, strict=True))
        )  # fmt: skip
        self.env_steps += int(playing.sum())
        self.episode_return += np.where(playing, result.reward, 0.0)
        ended = np.flatnonzero(playing & result.terminated)
        episode = self.episode[ended]
        self.returns[ended, episode // cells, episode % cells] = self.episode_return[ended]
        self.episode_return[ended] = 0.0
        self.episode[ended] += 1
        rewards = np.zeros(n, np.float32)
        finished = ended[self.episode[ended] == self.n_episodes]
        if len(finished):
            per_cell = torch.as_tensor(self.returns[finished]).transpose(1, 2)  # (F, I, m)
            fitness = fitness_from_returns(per_cell, self.q, self.player.max_return)
            rewards[finished] = self.n_episodes * fitness.numpy()
        restart = ended[self.episode[ended] < self.n_episodes]
        fresh = self.dynamics.reset(self.cells[self.episode[restart] % cells])
        for field, value in zip(self.state, fresh, strict=True):
            field[restart] = value
        self.seed_step[restart] = True
        done = self.episode == self.n_episodes  # idling: an empty episode every step
        done[ended] = True
        return self._observations(), rewards, done, np.zeros(n, bool), {}

    def _observations(self) -> np.ndarray:
        """[token, seed, 1] at a seed step (the token zero), else [token, seed, 0]."""
        tokens = self.player.tokens(self.dynamics.observe(self.state)).numpy()
        tokens[self.seed_step] = 0.0
        seeds = self.seeds[np.minimum(self.episode, self.n_episodes - 1) // len(self.cells)]
        return np.concatenate([tokens, seeds, self.seed_step[:, None]], axis=1, dtype=np.float32)


class LinearAttentionPolicy(nn.Module):
    """The transformer as a VecGymNE recurrent policy: (observation, state) -> (logits, state).

    It runs under `torch.vmap` over candidates, one `ScheduledGridVecEnv` observation each. The
    state is the position and every block's linear-attention state, all tensors, so that
    EvoTorch's reset (zeroing them) starts a new episode. A seed step embeds the seed token at
    position 0; a token step embeds the token at the next position. Both embeddings are computed
    and one is selected (a branch on data is not possible under vmap); the blocks run once. The
    transformer is the only submodule, so the parameters are in `flatten_parameters` order.

    Args:
        model: The transformer (linear attention, a prefix_normal seed token).
        input_dim: Features of a token.
    """

    def __init__(self, model: SeededTransformer, input_dim: int) -> None:
        super().__init__()
        config = model.config
        if config.attention != "linear" or config.seed_mode != "prefix_normal":
            raise ValueError(
                f"attention={config.attention!r}, seed_mode={config.seed_mode!r}: the peer's "
                "policy needs linear attention and a prefix_normal seed (e.g. the tiny preset)"
            )
        self.model, self.input_dim = model, input_dim

    def forward(self, obs: Tensor, state: tuple[Tensor, ...] | None = None):
        """The move logits (4,) for one observation, and the state after it."""
        model, config = self.model, self.model.config
        token, seed, is_seed = obs[: self.input_dim], obs[self.input_dim : -1], obs[-1]
        if state is None:
            zeros = obs.new_zeros(config.n_heads, config.key_size, config.key_size)
            state = (obs[-1] * 0, *(zeros + obs[-1] * 0 for _ in model.blocks))  # batched
        position, *attention = state
        seeded = model.seed_embed(seed)
        h = torch.where(is_seed > 0.5, seeded, model._embed_tokens(token, seed))
        h = model._finish_embedding(h, position.long())
        updated = []
        for block, block_state in zip(model.blocks, attention, strict=True):
            h, (block_state,) = block.step(h, (block_state,), 0)
            updated.append(block_state)
        return model.head(h), (position + 1, *updated)


class VecPeer(VecGymNE):
    """VecGymNE on `ScheduledGridVecEnv`; keeps the env to schedule generations and count steps."""

    @property
    def schedule_env(self) -> ScheduledGridVecEnv:
        """The vector env under EvoTorch's torch wrapper (built at the first evaluation)."""
        return self.get_env().env


def make_peer(run: Evolution) -> tuple[VecPeer, PGPE]:
    """EvoTorch's problem and PGPE, set up like `run` and starting at its initial center."""
    player, es = run.player, run.es.config
    if not isinstance(player, GridPlayer):
        raise ValueError(f"env {run.config.env_id!r} is not the grid world; expected GridExplore")
    seeds = run.policy_seeds()
    n_episodes = len(run.evaluation_instances) * len(seeds)

    def make_env(num_envs: int) -> ScheduledGridVecEnv:
        return ScheduledGridVecEnv(player, num_envs, seeds, run.current_q())

    policy = LinearAttentionPolicy(run.model, player.input_dim)
    problem = VecPeer(make_env, policy, num_episodes=n_episodes, num_actors=None)
    problem.manual_seed(run.config.seed)  # the problem's own generator draws PGPE's noise
    searcher = PGPE(
        problem,
        popsize=es.popsize,
        center_learning_rate=es.center_lr,
        stdev_learning_rate=es.std_lr,
        stdev_init=es.sigma_init,
        stdev_min=es.sigma_min,
        stdev_max_change=es.sigma_max_change,
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


def check_same_episodes(run: Evolution, problem: VecPeer) -> None:
    """Raises unless the peer's episodes of the initial center return what our engine's do."""
    batch = problem.generate_batch(1)
    batch.set_values(run.es.center[None].clone())
    problem.evaluate(batch)
    peer = torch.as_tensor(problem.schedule_env.returns[0]).T  # (I, m)
    ours = run.evaluator.returns(run.es.center[None], run.evaluation_instances, run.policy_seeds())
    if not torch.equal(peer.to(ours.dtype), ours[0]):
        raise SystemExit(f"the peer plays other episodes: returns\n{peer}\nagainst ours\n{ours[0]}")


def train_ours(run: Evolution, generations: int, log_every: int) -> Timing:
    """Runs `generations` generations; returns their env-steps and time."""
    episodes = run.es.config.popsize * len(run.evaluation_instances) * run.config.m
    steps, stopwatch = 0.0, Stopwatch()
    for generation in range(generations):
        steps -= run.step()["return_mean"] * episodes  # every step returns -1
        if (generation + 1) % log_every == 0:
            print(f"  ours: generation {generation + 1}, {stopwatch.timing(steps).wall:.0f} s")
    return stopwatch.timing(steps)


def train_peer(problem: VecPeer, searcher: PGPE, run: Evolution, generations: int,
               log_every: int) -> Timing:  # fmt: skip
    """Runs `generations` generations of the peer on `run`'s seeds and norm schedule."""
    stopwatch, steps_before = Stopwatch(), problem.schedule_env.env_steps
    for generation in range(generations):
        problem.schedule_env.schedule(run.policy_seeds(), run.config.q_at(generation))
        searcher.step()
        if (generation + 1) % log_every == 0:
            print(f"  peer: generation {generation + 1}, {stopwatch.timing(0).wall:.0f} s")
    return stopwatch.timing(problem.schedule_env.env_steps - steps_before)


def evaluate(run: Evolution, center: Tensor) -> tuple[float, float, float]:
    """Average, 95th percentile and worst cell of `center`'s seed-averaged returns (our engine)."""
    seeds = run.evaluation_seeds(100)
    returns = run.evaluator.returns(center[None], run.evaluation_instances, seeds)[0]
    per_cell = returns.mean(dim=1)  # (I,)
    tail = torch.quantile(per_cell, 0.05).item()
    return per_cell.mean().item(), tail, per_cell.min().item()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", help="the grid task's evolution preset")
    parser.add_argument("--generations", type=int, default=800)
    parser.add_argument("--seed", type=int, default=0, help="initial weights, ES, seed stream")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (both sides)")
    parser.add_argument("--log-every", type=int, default=50, help="generations between lines")
    parser.add_argument("--skip-ours", action="store_true", help="time the peer only")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    logging.getLogger("evotorch").setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    preset = {**GridTask.evolution_presets[args.preset], "generations": args.generations}
    config = EvolveConfig(**preset, seed=args.seed)
    ours, peer_run = Evolution(config), Evolution(config)  # the same weights and seed stream
    problem, searcher = make_peer(peer_run)
    check_same_episodes(peer_run, problem)
    average, tail, worst = evaluate(ours, ours.es.center)
    print(f"machine: {describe()}")
    n_params = flatten_parameters(ours.model).numel()
    print(
        f"problem: GridExplore-v0, preset {args.preset!r} ({n_params:,} parameters), PGPE "
        f"popsize {config.es['popsize']}, 24 cells x {config.m} seeds per candidate, "
        f"{args.generations} generations; the peer's episodes of the initial center return "
        f"exactly ours; the start: {average:.2f} / {tail:.2f} / {worst:.2f}"
    )
    sides = [
        (
            "EvoTorch PGPE+VecGymNE",
            lambda: train_peer(problem, searcher, peer_run, args.generations, args.log_every),
            lambda: torch.as_tensor(searcher.status["center"]).as_subclass(Tensor).clone(),
        )
    ]
    if not args.skip_ours:
        sides.insert(0, ("ours (Evolution)",
                         lambda: train_ours(ours, args.generations, args.log_every),
                         lambda: ours.es.center))  # fmt: skip
    rows = []
    for name, train, center in sides:
        timing = train()
        print(f"{name}: {timing.steps:,.0f} env-steps in {timing.wall:.1f} s", flush=True)
        rows.append((name, timing, evaluate(ours, center())))
    print(f"\n{'':24s} {'env-steps/s':>12s} {'per CPU-s':>10s} {'average':>8s} {'95th':>8s} "
          f"{'worst':>8s}")  # fmt: skip
    for name, timing, (average, tail, worst) in rows:
        wall_rate, cpu_rate = timing.steps / timing.wall, timing.steps / timing.cpu
        print(f"{name:24s} {wall_rate:12,.0f} {cpu_rate:10,.0f} {average:8.2f} {tail:8.2f} "
              f"{worst:8.2f}")  # fmt: skip
    if len(rows) == 2:
        (_, our, _), (_, peer, _) = rows
        print(
            f"ratio {our.steps / our.wall / (peer.steps / peer.wall):.1f}x in env-steps/s, "
            f"{our.steps / our.cpu / (peer.steps / peer.cpu):.1f}x per CPU-second "
            "(target >= 10x at an equal or better worst case)"
        )


if __name__ == "__main__":
    main()
