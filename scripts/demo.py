"""Plays each randgym env with simple deterministic and randomized policies, under an adversary.

    python scripts/demo.py

For each task it prints the average return over instances and what the oblivious worst-case
adversary (`WorstCaseAdversary`) does to each policy: the deterministic one loses much more
on its worst instance than the randomized one, whose random choices the adversary cannot see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

import randgym  # noqa: F401  (registers the envs)
from agents.baselines.grid import PathExplorer, all_paths
from randgym.wrappers import AdversarialInstances, WorstCaseAdversary

Policy = Callable[[dict], np.ndarray | int]


@dataclass
class Args:
    """Demo settings."""

    policy_seeds: int = 32  # random seeds averaged per instance for randomized policies
    recall_memory: int = 10  # how many of the 15 values the recall policies can store
    candidates: int = 300  # instances the adversary searches for recall and coloring


def episode_return(env: gym.Env, policy: Policy, instance=None) -> float:
    """The return of one episode of `policy`, on `instance` if given."""
    options = None if instance is None else {"instance": instance}
    obs, _ = env.reset(options=options)
    total, done = 0.0, False
    while not done:
        obs, reward, done, _, _ = env.step(policy(obs))
        total += reward
    return total


def seed_averaged(env: gym.Env, make_policy: Callable[[int], Policy], seeds: int):
    """The score function of an instance: the mean return over `seeds` policy seeds."""
    return lambda inst: np.mean([episode_return(env, make_policy(s), inst) for s in range(seeds)])


def report(env_id: str, name: str, make_policy, seeds: int, candidates=None, **env_kwargs):
    """Prints average and adversarial return of a policy family on `env_id`."""
    env = gym.make(env_id, **env_kwargs)
    score = seed_averaged(env, make_policy, seeds)
    adversary = WorstCaseAdversary(score, candidates, seed=0)
    wrapped = AdversarialInstances(env, adversary)
    adversarial = np.mean([episode_return(wrapped, make_policy(s)) for s in range(seeds)])
    worst = adversary.instances[adversary.worst[0]]
    where = f"   worst cell {tuple(worst.tolist())}" if env_id == "RandAlg/GridExplore-v0" else ""
    print(
        f"  {name:40s} average {adversary.scores.mean():7.2f}   "
        f"adversarial {adversarial:7.2f}{where}"
    )


def store_first(memory: int) -> Policy:
    """Deterministic recall: remembers the first `memory` values, answers zeros otherwise."""
    return lambda obs: _recall(obs, np.arange(memory))


def store_random(memory: int, policy_seed: int) -> Policy:
    """Randomized recall: remembers a random subset of `memory` values chosen by the seed."""
    rng = np.random.default_rng(policy_seed)
    return lambda obs: _recall(obs, rng.choice(len(obs["query"]), memory, replace=False))


def _recall(obs: dict, stored: np.ndarray) -> np.ndarray:
    query = int(np.argmax(obs["query"]))
    value = obs["values"][query]
    return value if query in stored else np.zeros_like(value)


def local_extremes(keys: np.ndarray) -> Policy:
    """A one-round coloring: a vertex below both neighbours' keys takes 0, above both 1, else 2.

    It is proper unless three keys rise (or fall) along the cycle.
    """

    def policy(obs: dict) -> np.ndarray:
        neighbours = np.where(obs["adjacency"] == 1, keys[None, :], np.nan)
        colors = np.full(len(keys), 2)
        colors[keys < np.nanmin(neighbours, axis=1)] = 0
        colors[keys > np.nanmax(neighbours, axis=1)] = 1
        return colors

    return policy


def main(args: Args) -> None:
    """Runs the three demos."""
    paths = all_paths(5)
    print("GridExplore-v0 (return = -steps over 2 phases; adversary hides the treasure):")
    report(
        "RandAlg/GridExplore-v0",
        "serpentine sweep (deterministic)",
        lambda s: PathExplorer(paths[:1], s),
        1,
    )
    report(
        "RandAlg/GridExplore-v0",
        "one of 4 sweeps by seed (random)",
        lambda s: PathExplorer(paths, s),
        args.policy_seeds,
    )

    rng = np.random.default_rng(0)
    recall = gym.make("RandAlg/AssociativeRecall-v0").unwrapped.generator
    cycles = gym.make("RandAlg/GraphColoring-v0").unwrapped.generator
    m = args.recall_memory
    print(f"AssociativeRecall-v0 (N=15, memory {m}; reward 1 if all 5 bits right):")
    queries = [recall.sample(rng) for _ in range(args.candidates)]
    report(
        "RandAlg/AssociativeRecall-v0",
        f"store first {m} (deterministic)",
        lambda s: store_first(m),
        1,
        queries,
    )
    report(
        "RandAlg/AssociativeRecall-v0",
        f"store random {m} (random)",
        lambda s: store_random(m, s),
        args.policy_seeds,
        queries,
    )

    print("GraphColoring-v0 (C_10, 3 colors; reward 1 for a proper coloring):")
    graphs = [cycles.sample(rng) for _ in range(args.candidates)]
    report(
        "RandAlg/GraphColoring-v0",
        "local extremes of ids (deterministic)",
        lambda s: local_extremes(np.arange(10.0)),
        1,
        graphs,
    )
    report(
        "RandAlg/GraphColoring-v0",
        "local extremes of random keys (random)",
        lambda s: local_extremes(np.random.default_rng(s).random(10)),
        args.policy_seeds,
        graphs,
    )


if __name__ == "__main__":
    main(Args())
