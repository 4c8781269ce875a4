"""NativeVecEnv: SB3's VecEnv protocol over the native vector envs, equal to DummyVecEnv."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector.utils import batch_space
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.utils import check_for_correct_spaces
from stable_baselines3.common.vec_env import DummyVecEnv, VecCheckNan, VecMonitor

import randgym
from agents.sb3.vec_adapter import NativeVecEnv

ENV_IDS = randgym.ENV_IDS


def assert_same(left, right) -> None:
    if isinstance(left, dict):
        assert left.keys() == right.keys()
        for key in left:
            assert_same(left[key], right[key])
    elif isinstance(left, list | tuple):
        assert len(left) == len(right)
        for one, other in zip(left, right, strict=True):
            assert_same(one, other)
    else:
        np.testing.assert_array_equal(np.asarray(left), np.asarray(right))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_steps_like_dummy_vec_env_over_the_single_env(env_id):
    n = 3
    native = NativeVecEnv.make(env_id, num_envs=n)
    dummy = DummyVecEnv([lambda: gym.make(env_id)] * n)
    check_for_correct_spaces(native, dummy.observation_space, dummy.action_space)
    native.seed(7)
    dummy.seed(7)
    assert_same(native.reset(), dummy.reset())
    assert_same(native.reset_infos, dummy.reset_infos)
    action_space = batch_space(dummy.action_space, n)
    action_space.seed(0)
    dones_seen = 0
    for _ in range(60):
        actions = action_space.sample()
        native_out, dummy_out = native.step(actions), dummy.step(actions)
        for left, right in zip(native_out[:3], dummy_out[:3], strict=True):
            assert_same(left, right)
        assert_same(native_out[3], dummy_out[3])  # terminal observations included
        assert_same(native.reset_infos, dummy.reset_infos)
        dones_seen += int(native_out[2].sum())
    assert dones_seen >= n


def test_reset_options_reach_every_sub_env():
    venv = NativeVecEnv.make("RandAlg/GridExplore-v0", num_envs=2)
    venv.set_options({"instance": (3, 1)})
    venv.reset()
    assert [tuple(info["instance"]) for info in venv.reset_infos] == [(3, 1), (3, 1)]


def test_refuses_what_it_cannot_adapt():
    with pytest.raises(ValueError, match="not a gymnasium VectorEnv"):
        NativeVecEnv(gym.make("RandAlg/GridExplore-v0"))
    next_step = gym.make_vec("RandAlg/GridExplore-v0", 2, vectorization_mode="vector_entry_point")
    with pytest.raises(ValueError, match="SameStep"):
        NativeVecEnv(next_step)
    venv = NativeVecEnv.make("RandAlg/GridExplore-v0", num_envs=2)
    venv.set_options([{"instance": (1, 1)}, {"instance": (2, 2)}])
    with pytest.raises(ValueError, match="differ between sub-envs"):
        venv.reset()


def test_sb3_attribute_protocol():
    venv = NativeVecEnv.make("RandAlg/GraphColoring-v0", num_envs=4, render_mode="rgb_array")
    assert venv.render_mode == "rgb_array"
    assert venv.get_attr("n_colors", indices=[0, 2]) == [3, 3]
    assert venv.env_is_wrapped(gym.Wrapper) == [False] * 4
    venv.reset()
    assert len(venv.get_images()) == 4 and venv.get_images()[0].ndim == 3


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_ppo_trains_on_the_native_env(env_id):
    venv = VecCheckNan(VecMonitor(NativeVecEnv.make(env_id, num_envs=8)), raise_exception=True)
    model = PPO("MultiInputPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, seed=0)
    model.learn(512)
    assert model.num_timesteps == 512 and len(model.ep_info_buffer) > 0


def test_a2c_learns_recall_bits_it_can_see():
    """A one-step task whose answer is in the observation: A2C's success rate goes up."""
    venv = VecMonitor(NativeVecEnv.make("RandAlg/AssociativeRecall-v1", num_envs=16,
                                        n_pairs=2, value_bits=1))  # fmt: skip
    model = A2C("MultiInputPolicy", venv, n_steps=8, learning_rate=3e-3, seed=0)
    model.learn(6000)
    recent = [info["r"] for info in model.ep_info_buffer]
    assert np.mean(recent) > 0.75
