"""The evaluation of an SB3 policy over instances x policy seeds, with the project's metrics.

The policy plays every evaluation instance (all of them when the space is small enough, else
a fixed sample) in the env it was trained in (the same wrappers, e.g. `TokenHistory` and
`PolicySeedObservation`, made by the same function), under several policy seeds:

- sampled actions: the policy's own action distribution, torch seeded with each seed;
- argmax actions: the deterministic policy; with a `PolicySeedObservation` it is a
  randomized algorithm in the paper's sense, played under each policy seed and under its best
  fixed seed (`agents.evolution.report.trained_rows`); without, one deterministic run.

Each row summarises the per-instance seed-averaged return (average, 95th percentile, worst
case), next to the task's classical algorithms on the same instances, as the evolution
report does; `evaluation.json` has the same format.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import DummyVecEnv

from agents.baselines.play import baseline_rows
from agents.evolution.report import trained_rows
from agents.metrics import summarize
from agents.sb3.env_recipe import find_wrapper
from agents.tasks.base import Task
from randgym.envs.batching import batch_index, batch_stack
from randgym.envs.generator import InstanceGenerator
from randgym.wrappers import PolicySeedObservation
from randgym.wrappers.policy_seed import SEED_OPTION

EVAL_SEED = 12345  # the sample of instances and the policy seeds of every evaluation


def evaluation_instances(generator: InstanceGenerator, limit: int) -> tuple[list[Any], bool]:
    """Every instance if there are at most ``limit``, else ``limit`` fixed random ones.

    Returns:
        ``(instances, complete)``: the instances, and whether they are the whole space.
    """
    if limit < 1:
        raise ValueError(f"limit={limit!r} is invalid; expected an int >= 1")
    count = generator.num_instances
    if count is not None and count <= limit:
        return list(generator.instances()), True
    batch = generator.sample_batch(np.random.default_rng(EVAL_SEED), limit)
    return [batch_index(batch, i) for i in range(limit)], False


def play_instances(
    model: BaseAlgorithm,
    make_env: Callable[[], gym.Env],
    instances: list[Any],
    policy_seeds: list[int],
    deterministic: bool,
    chunk: int = 256,
) -> np.ndarray:
    """The return (I, S) of one episode of ``model`` on each instance under each seed.

    A seed goes to the env's `PolicySeedObservation` (if it has one) and seeds torch, which
    SB3 samples actions with. Recurrent policies get their state and episode starts.

    Args:
        model: The trained SB3 model.
        make_env: Makes the env the model acts in (without an adversary).
        instances: The instances (as the generator gives them).
        policy_seeds: The seeds (within the range of the env's policy seeds).
        deterministic: Argmax actions instead of sampled ones.
        chunk: Episodes played side by side.
    """
    width = min(chunk, len(instances))
    venv = DummyVecEnv([make_env] * width)
    seeded = venv.env_is_wrapped(PolicySeedObservation)[0]
    returns = np.zeros((len(instances), len(policy_seeds)))
    for column, seed in enumerate(policy_seeds):
        for start in range(0, len(instances), width):
            part = instances[start : start + width]
            padded = part + part[:1] * (width - len(part))  # spare sub-envs replay instance 0
            extra = {SEED_OPTION: seed} if seeded else {}
            venv.set_options([{"instance": instance, **extra} for instance in padded])
            with torch.random.fork_rng():  # the caller's torch stream is left as it was
                torch.manual_seed(seed)
                played = _play(model, venv, deterministic)
            returns[start : start + len(part), column] = played[: len(part)]
    venv.close()
    return returns


def _play(model: BaseAlgorithm, venv: DummyVecEnv, deterministic: bool) -> np.ndarray:
    """The return of the first episode of every sub-env, from a reset with its options."""
    obs = venv.reset()
    total = np.zeros(venv.num_envs)
    finished = np.zeros(venv.num_envs, dtype=bool)
    state, starts = None, np.ones(venv.num_envs, dtype=bool)
    while not finished.all():
        actions, state = model.predict(
            obs, state=state, episode_start=starts, deterministic=deterministic
        )
        obs, rewards, starts, _ = venv.step(actions)
        total += np.where(finished, 0.0, rewards)
        finished |= starts
    return total


def policy_seeds(bits: int | None, count: int) -> list[int]:
    """``count`` fixed policy seeds of ``bits`` bits (None: no seed observation, 31 bits)."""
    return np.random.default_rng(EVAL_SEED).integers(2 ** (bits or 31), size=count).tolist()


def seed_bits(make_env: Callable[[], gym.Env]) -> int | None:
    """The bits of the env's `PolicySeedObservation`, or None if it has none."""
    env = make_env()
    wrapper = find_wrapper(env, PolicySeedObservation)
    env.close()
    return None if wrapper is None else wrapper.bits


def evaluation_rows(
    model: BaseAlgorithm,
    make_env: Callable[[], gym.Env],
    task: Task,
    name: str,
    instances: list[Any],
    n_seeds: int,
    complete: bool = False,
    baselines: bool = True,
) -> dict[str, dict[str, float]]:
    """Summaries by agent: the model's (see the module docstring) and the task's algorithms.

    Args:
        model: The trained SB3 model.
        make_env: Makes the env the model acts in (without an adversary).
        task: The task of the env (its classical algorithms and exact references).
        name: The model's name in the rows, e.g. ``"ppo"``.
        instances: The evaluation instances (`evaluation_instances`).
        n_seeds: Policy seeds per instance.
        complete: Whether the instances are the whole space (the exact references apply).
        baselines: Add the task's classical algorithms.
    """
    bits = seed_bits(make_env)
    seeds = policy_seeds(bits, n_seeds)
    sampled = play_instances(model, make_env, instances, seeds, deterministic=False)
    rows = {f"{name}, sampled actions (m={n_seeds})": summarize(sampled.mean(axis=1))}
    if bits is not None:
        argmax = play_instances(model, make_env, instances, seeds, deterministic=True)
        for label, row in trained_rows(argmax).items():
            rows[f"{name}, argmax, {label.removeprefix('trained, ')}"] = row
    else:
        argmax = play_instances(model, make_env, instances, seeds[:1], deterministic=True)
        rows[f"{name}, argmax (deterministic)"] = summarize(argmax[:, 0])
    if baselines:
        rows |= baseline_rows(task, batch_stack(instances), n_seeds)
    return rows | (task.references() if complete else {})
