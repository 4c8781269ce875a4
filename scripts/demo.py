"""Plays each env with its classical policies, deterministic and randomized, under an adversary.

    python scripts/demo.py

For every registered task it prints each classical policy's average return over instances
and its return against the oblivious worst-case adversary (`WorstCaseAdversary`), which knows
the policy but not its seed: the deterministic policy loses much more on its worst instance
than the randomized one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from agents.baselines.play import episode_return
from agents.runs.cli import flag, parse
from agents.tasks import TASKS
from randgym.wrappers import AdversarialInstances, WorstCaseAdversary

Policy = Callable[[dict], np.ndarray | int]


@dataclass
class Args:
    """Command-line flags."""

    policy_seeds: int = flag(32, "policy seeds averaged per instance", minimum=1, maximum=10_000)
    candidates: int = flag(
        300, "instances the adversary searches where the space is large", minimum=1, maximum=10**5
    )
    seed: int = flag(0, "seed of the candidate instances and the adversary", minimum=0)


def report(env: gym.Env, name: str, make_policy, seeds: int, candidates, seed: int) -> None:
    """Prints the average and the adversarial return of a policy family on ``env``."""

    def score(instance) -> float:
        return np.mean([episode_return(env, make_policy(s), instance) for s in range(seeds)])

    adversary = WorstCaseAdversary(score, candidates, seed=seed)
    wrapped = AdversarialInstances(env, adversary)
    adversarial = np.mean([episode_return(wrapped, make_policy(s)) for s in range(seeds)])
    print(f"  {name:40s} average {adversary.scores.mean():7.2f}   adversarial {adversarial:7.2f}")


def main(args: Args) -> None:
    """Runs every task's classical policies."""
    rng = np.random.default_rng(args.seed)
    for task_class in TASKS.values():
        task = task_class()
        env = gym.make(task.env_id, **task.env_kwargs)
        count = task.num_instances
        small = count is not None and count <= args.candidates
        candidates = None if small else [task.generator.sample(rng) for _ in range(args.candidates)]
        print(f"{task.env_id} (N={task.size}, {'all' if small else args.candidates} instances):")
        for baseline in task.baselines():
            seeds = args.policy_seeds if baseline.randomized else 1
            report(env, baseline.name, baseline.make, seeds, candidates, args.seed)


if __name__ == "__main__":
    main(parse(Args, __doc__))
