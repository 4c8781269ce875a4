"""The SB3 evaluation over instances x policy seeds equals playing each episode by hand."""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import pytest
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO

from agents.sb3.evaluation import (
    evaluation_instances,
    evaluation_rows,
    play_instances,
    policy_seeds,
    seed_bits,
)
from agents.tasks import task_for_env
from randgym.wrappers import PolicySeedObservation

GRID = "RandAlg/GridExplore-v0"


def make_grid(seed_obs: bool = False) -> gym.Env:
    env = gym.make(GRID)
    return PolicySeedObservation(env, bits=4) if seed_obs else env


def one_episode(model, env: gym.Env, options: dict, deterministic: bool = True) -> float:
    obs, _ = env.reset(options=options)
    total, done = 0.0, False
    while not done:
        action, _ = model.predict(obs, deterministic=deterministic)
        obs, reward, done, _, _ = env.step(action)
        total += reward
    return total


@pytest.fixture(scope="module")
def grid_model():
    return PPO("MultiInputPolicy", make_grid(seed_obs=True), seed=0)


def test_instances_are_all_or_a_fixed_sample():
    grid = gym.make(GRID).unwrapped.generator
    instances, complete = evaluation_instances(grid, 100)
    assert complete and len(instances) == 24
    recall = gym.make("RandAlg/AssociativeRecall-v1").unwrapped.generator
    first, complete = evaluation_instances(recall, 5)
    again, _ = evaluation_instances(recall, 5)
    assert not complete and len(first) == 5
    for one, other in zip(first, again, strict=True):
        np.testing.assert_array_equal(one["values"], other["values"])
    with pytest.raises(ValueError, match="limit=0"):
        evaluation_instances(grid, 0)


def test_argmax_returns_equal_episodes_played_by_hand(grid_model):
    make_env = functools.partial(make_grid, seed_obs=True)
    instances = evaluation_instances(gym.make(GRID).unwrapped.generator, 100)[0][:7]
    seeds = policy_seeds(seed_bits(make_env), 3)
    assert all(0 <= seed < 16 for seed in seeds)
    returns = play_instances(grid_model, make_env, instances, seeds, True, chunk=4)
    env = make_env()
    expected = [
        [one_episode(grid_model, env, {"instance": cell, "policy_seed": seed}) for seed in seeds]
        for cell in instances
    ]
    np.testing.assert_array_equal(returns, expected)


def test_sampled_returns_repeat_with_the_seeds(grid_model):
    make_env = functools.partial(make_grid, seed_obs=True)
    instances = evaluation_instances(gym.make(GRID).unwrapped.generator, 100)[0][:5]
    first = play_instances(grid_model, make_env, instances, [1, 2], False)
    assert np.array_equal(first, play_instances(grid_model, make_env, instances, [1, 2], False))
    assert ((first >= -50) & (first <= -1)).all()


def test_rows_hold_the_model_baselines_and_references(grid_model):
    make_env = functools.partial(make_grid, seed_obs=True)
    task = task_for_env(GRID)()
    instances, complete = evaluation_instances(task.generator, 100)
    rows = evaluation_rows(grid_model, make_env, task, "ppo", instances, 3, complete)
    names = list(rows)
    assert names[:4] == [
        "ppo, sampled actions (m=3)",
        "ppo, argmax, random seeds (m=3)",
        "ppo, argmax, best fixed seed (deterministic)",
        "ppo, argmax, its seeds mixed by the LP",
    ]
    assert any("serpentine" in name or "sweep" in name for name in names[4:])
    assert set(task.references()) <= set(names)
    for row in rows.values():
        assert set(row) == {"average", "p95", "worst"} and row["worst"] <= row["average"]


def test_a_recurrent_policy_without_seed_observation_gets_one_argmax_row():
    env_id = "RandAlg/AssociativeRecall-v1"
    model = RecurrentPPO("MultiInputLstmPolicy", gym.make(env_id, n_pairs=3, value_bits=2),
                         seed=0)  # fmt: skip
    task = task_for_env(env_id)(n_pairs=3, value_bits=2)
    instances, complete = evaluation_instances(task.generator, 20)
    make_env = functools.partial(gym.make, env_id, n_pairs=3, value_bits=2)
    rows = evaluation_rows(model, make_env, task, "rppo", instances, 2, complete,
                           baselines=False)  # fmt: skip
    assert list(rows) == ["rppo, sampled actions (m=2)", "rppo, argmax (deterministic)"]
    assert all(0 <= row["average"] <= 1 for row in rows.values())
