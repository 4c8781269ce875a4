"""The policy-seed observation wrapper: its own seeded RNG, fixed seeds, checkers and SB3."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.env_util import make_vec_env

import randgym
from randgym.wrappers import PolicySeedObservation


def seed_of(obs: dict) -> int:
    return int("".join(map(str, obs["policy_seed"])), 2)


def episode_seeds(env: gym.Env, seed: int | None, count: int = 8) -> list[int]:
    seeds = [env.reset(seed=seed)[1]["policy_seed"]]
    return seeds + [env.reset()[1]["policy_seed"] for _ in range(count - 1)]


@pytest.mark.filterwarnings("ignore:.*is different from the unwrapped version")
@pytest.mark.parametrize("env_id", randgym.ENV_IDS)
def test_gymnasium_and_sb3_env_checkers_pass(env_id):
    env = PolicySeedObservation(gym.make(env_id))
    check_env(env, skip_render_check=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(PolicySeedObservation(gym.make(env_id).unwrapped), warn=True)


def test_the_seed_is_observed_as_bits_and_reported_in_info():
    env = PolicySeedObservation(gym.make("RandAlg/GridExplore-v0"), bits=5)
    assert env.observation_space["policy_seed"] == gym.spaces.MultiBinary(5)
    obs, info = env.reset(seed=0)
    assert obs["policy_seed"].dtype == np.int8 and seed_of(obs) == info["policy_seed"]
    assert env.observation_space.contains(obs)
    obs, _, _, _, step_info = env.step(0)
    assert seed_of(obs) == step_info["policy_seed"] == info["policy_seed"]
    assert set(obs) == {*env.unwrapped.observation_space.keys(), "policy_seed"}


def test_seeds_follow_the_reset_seed_and_vary_between_episodes():
    def make():
        return PolicySeedObservation(gym.make("RandAlg/AssociativeRecall-v1"), bits=20)

    first = episode_seeds(make(), seed=1)
    assert first == episode_seeds(make(), seed=1)
    assert first != episode_seeds(make(), seed=2)
    assert len(set(first)) == len(first)


def test_the_wrapper_leaves_the_env_instance_stream_unchanged():
    def instances(env):
        first = [env.reset(seed=7)[1]["instance"]]
        return np.array(first + [env.reset()[1]["instance"] for _ in range(5)])

    bare = gym.make("RandAlg/GridExplore-v0")
    wrapped = PolicySeedObservation(gym.make("RandAlg/GridExplore-v0"))
    np.testing.assert_array_equal(instances(bare), instances(wrapped))


def test_a_fixed_seed_holds_until_unfixed_and_a_reset_option_sets_one_episode():
    env = PolicySeedObservation(gym.make("RandAlg/GraphColoring-v0"), bits=6, fixed_seed=5)
    assert episode_seeds(env, seed=0, count=4) == [5, 5, 5, 5]
    _, info = env.reset(options={"policy_seed": 9})
    assert info["policy_seed"] == 9 and env.reset()[1]["policy_seed"] == 5
    env.fix_seed(None)
    assert len(set(episode_seeds(env, seed=0, count=10))) > 1


def test_other_reset_options_reach_the_env():
    env = PolicySeedObservation(gym.make("RandAlg/GridExplore-v0"))
    _, info = env.reset(options={"instance": (3, 4), "policy_seed": 2})
    assert tuple(info["instance"]) == (3, 4) and info["policy_seed"] == 2


def test_bad_arguments_are_refused():
    grid = gym.make("RandAlg/GridExplore-v0")
    with pytest.raises(ValueError, match=r"bits=0 must be an integer in \[1, 62\]"):
        PolicySeedObservation(grid, bits=0)
    with pytest.raises(ValueError, match="'position' is taken"):
        PolicySeedObservation(grid, key="position")
    with pytest.raises(ValueError, match="expected a Dict observation space"):
        PolicySeedObservation(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match=r"policy_seed=16 must be an integer in \[0, 15\]"):
        PolicySeedObservation(grid, bits=4, fixed_seed=16)
    env = PolicySeedObservation(grid, bits=4)
    with pytest.raises(ValueError, match="policy_seed=-1"):
        env.reset(options={"policy_seed": -1})


def test_sb3_multi_input_policy_trains_on_a_seeded_env():
    envs = make_vec_env(
        "RandAlg/GridExplore-v0", n_envs=2, seed=0, wrapper_class=PolicySeedObservation
    )
    model = PPO("MultiInputPolicy", envs, n_steps=64, batch_size=64, n_epochs=1, seed=0)
    model.learn(total_timesteps=128)
    obs = envs.reset()
    assert obs["policy_seed"].shape == (2, 16)
    assert model.predict(obs)[0].shape == (2,)
