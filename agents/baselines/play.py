"""Playing a classical policy in a single env, episode by episode."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from agents.metrics import summarize
from agents.tasks.base import Baseline, Task
from randgym.envs.batching import batch_index


def episode_return(env: gym.Env, policy: Callable[[dict], Any], instance: Any = None) -> float:
    """The return of one episode of ``policy``, on ``instance`` if given."""
    options = None if instance is None else {"instance": instance}
    obs, _ = env.reset(options=options)
    total, done = 0.0, False
    while not done:
        obs, reward, done, _, _ = env.step(policy(obs))
        total += reward
    return total


def baseline_returns(env: gym.Env, baseline: Baseline, instances: Any, n_seeds: int) -> np.ndarray:
    """Per instance of a batch, the return (I,) averaged over ``n_seeds`` policy seeds.

    A deterministic baseline plays each instance once; a baseline's batched fast path is used
    when it has one.
    """
    if baseline.batch_returns is not None:
        return baseline.batch_returns(instances, n_seeds)
    seeds = range(n_seeds if baseline.randomized else 1)
    count = len(next(iter(instances.values())) if isinstance(instances, dict) else instances)
    return np.array(
        [
            np.mean(
                [episode_return(env, baseline.make(s), batch_index(instances, i)) for s in seeds]
            )
            for i in range(count)
        ]
    )


def baseline_rows(task: Task, instances: Any, n_seeds: int) -> dict[str, dict[str, float]]:
    """Summaries over a batch of instances of each of the task's classical algorithms."""
    rows = {}
    for baseline in task.baselines():
        returns = baseline_returns(task.env, baseline, instances, n_seeds)
        kind = "randomized" if baseline.randomized else "deterministic"
        rows[f"{baseline.name} ({kind})"] = summarize(returns)
    return rows
