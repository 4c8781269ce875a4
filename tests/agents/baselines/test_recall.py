"""The recall baselines' success rates in the real env against their closed forms."""

from __future__ import annotations

from itertools import combinations

import gymnasium as gym
import numpy as np
import pytest
from scipy.stats import chisquare

import randgym  # noqa: F401  (registers the environments)
from agents.baselines.play import baseline_returns, episode_return
from agents.baselines.recall import StoreSubset, success_rates
from agents.tasks.recall.task import RecallTask
from randgym.envs.batching import batch_index

N, D = 4, 2  # 4 * 2**8 = 1,024 instances; the task's memory is 2 * 4 // 3 = 2 values
MEMORY = 2


def recall_env(value_bits: int = D) -> gym.Env:
    return gym.make("RandAlg/AssociativeRecall-v1", n_pairs=N, value_bits=value_bits)


def every_instance(env: gym.Env) -> dict:
    generator = env.unwrapped.generator
    return generator.instances_from_indices(np.arange(generator.num_instances))


def zero_queried(instances: dict) -> np.ndarray:
    """Whether each instance's queried value is all zeros (an answer of zeros is right)."""
    queried = instances["values"][np.arange(len(instances["query"])), instances["query"]]
    return ~queried.any(axis=1)


def test_the_task_baselines_store_two_thirds_first_or_at_random():
    first, randomized = RecallTask(n_pairs=N, value_bits=D).baselines()
    assert (first.name, first.randomized) == (f"store first {MEMORY}", False)
    assert (randomized.name, randomized.randomized) == (f"store random {MEMORY}", True)


def test_store_first_m_success_on_every_instance_is_the_closed_form():
    env = recall_env()
    instances = every_instance(env)
    first, _ = RecallTask(n_pairs=N, value_bits=D).baselines()
    success = baseline_returns(env, first, instances, n_seeds=1)
    expected = (instances["query"] < MEMORY) | zero_queried(instances)
    np.testing.assert_array_equal(success, expected.astype(float))
    rates = success_rates(N, D, MEMORY)
    assert success.mean() == pytest.approx(rates["average"], abs=1e-12)  # 1/2 + 1/2 * 1/4
    assert success.min() == rates["first_worst"] == 0.0


def test_store_random_m_plays_exactly_the_subset_its_seed_draws():
    env = recall_env()
    instances = every_instance(env)
    rng = np.random.default_rng(0)
    for seed, i in enumerate(rng.integers(len(instances["query"]), size=300)):
        instance = batch_index(instances, i)
        stored = StoreSubset(MEMORY, seed).stored_keys(N)
        right = instance["query"] in stored or not instance["values"][instance["query"]].any()
        assert episode_return(env, StoreSubset(MEMORY, seed), instance) == float(right)


def seeds_by_subset(count: int = 3000) -> dict[tuple, list[int]]:
    """The policy seeds 0..count-1 grouped by the subset of keys they store."""
    seeds: dict[tuple, list[int]] = {}
    for seed in range(count):
        seeds.setdefault(tuple(StoreSubset(MEMORY, seed).stored_keys(N)), []).append(seed)
    return seeds


def test_store_random_m_draws_every_subset_equally_often():
    seeds = seeds_by_subset()
    assert set(seeds) == set(combinations(range(N), MEMORY))
    assert chisquare([len(group) for group in seeds.values()]).pvalue > 1e-3


def test_store_random_m_exact_success_is_m_over_n_on_every_hard_instance():
    # The subsets are equally likely (test above), so the exact success on an instance is
    # the mean over the C(4, 2) = 6 subsets, each played in the env by a seed that draws it.
    env = recall_env(value_bits=1)
    instances = every_instance(env)  # 4 * 2**4 = 64
    seeds = [group[0] for group in seeds_by_subset(200).values()]  # one seed per subset
    assert len(seeds) == 6

    def exact_success(instance: dict) -> float:
        return np.mean([episode_return(env, StoreSubset(MEMORY, s), instance) for s in seeds])

    success = np.array([exact_success(batch_index(instances, i)) for i in range(64)])
    rates = success_rates(N, 1, MEMORY)
    easy = zero_queried(instances)
    np.testing.assert_array_equal(success[easy], 1.0)
    np.testing.assert_allclose(success[~easy], rates["random_worst"])  # 3 of 6 subsets: 1/2
    assert success.min() == rates["random_worst"] == MEMORY / N
    assert success.mean() == pytest.approx(rates["average"], abs=1e-12)  # 1/2 + 1/2 * 1/2


def test_memory_must_fit():
    with pytest.raises(ValueError, match="memory=0 must be an integer >= 1"):
        StoreSubset(0)
    env = recall_env()
    with pytest.raises(ValueError, match="memory=5 is larger than the 4 pairs"):
        episode_return(env, StoreSubset(5))


def test_closed_forms_at_the_paper_size():
    rates = success_rates(15, 5, 10)
    assert rates == pytest.approx(
        {"average": 10 / 15 + 5 / 15 / 32, "first_worst": 0.0, "random_worst": 10 / 15}
    )
    assert success_rates(4, 2, 4)["first_worst"] == 1.0
