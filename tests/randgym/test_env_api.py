"""The Gymnasium contract, checked for every registered env id."""

from __future__ import annotations

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import randgym
from tests.randgym.helpers import assert_tree_equal

ENV_IDS = randgym.ENV_IDS


def play(env: gym.Env, seed: int, steps: int) -> list:
    """Resets with `seed`, then plays seeded random actions, resetting at episode ends."""
    env.action_space.seed(seed)
    trace = [env.reset(seed=seed)]
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        trace.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            trace.append(env.reset())
    return trace


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gymnasium_check_env_passes_without_warnings(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(gym.make(env_id).unwrapped)


@pytest.mark.parametrize("env_id", randgym.DEPRECATED_ENV_IDS)
def test_deprecated_ids_still_pass_the_checkers_and_warn_they_are_out_of_date(env_id):
    with pytest.deprecated_call(match=f"{env_id} is out of date"):
        env = gym.make(env_id).unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env)
        sb3_check_env(env, warn=True)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_sb3_check_env_passes_without_warnings(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(gym.make(env_id).unwrapped, warn=True)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_make_without_import_prefix(env_id):
    env = gym.make(f"randgym:{env_id}")
    assert env.spec.id == env_id


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_gives_same_episodes(env_id):
    assert_tree_equal(play(gym.make(env_id), 3, 60), play(gym.make(env_id), 3, 60))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_different_seeds_give_different_instances(env_id):
    instances = [gym.make(env_id).reset(seed=seed)[1]["instance"] for seed in range(8)]
    keys = {gym.make(env_id).unwrapped.generator.key(instance) for instance in instances}
    assert len(keys) > 1


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("mode", ["ansi", "rgb_array"])
def test_render_modes(env_id, mode):
    env = gym.make(env_id, render_mode=mode)
    env.reset(seed=0)
    frames = [env.render()]
    for _ in range(2):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        frames.append(env.render())  # a final frame too, before any reset
        if terminated or truncated:
            env.reset()
    for frame in frames:
        if mode == "ansi":
            assert isinstance(frame, str) and frame.strip()
        else:
            assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.filterwarnings("ignore:.*render_mode")
def test_unknown_render_mode_is_refused(env_id):
    with pytest.raises(ValueError, match="render_mode"):
        gym.make(env_id, render_mode="text")


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_pickled_env_continues_identically(env_id):
    env = gym.make(env_id)
    env.reset(seed=5)
    clone = pickle.loads(pickle.dumps(env))
    action = env.action_space.sample()
    assert_tree_equal(clone.step(action), env.step(action))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_instance_option_is_played_and_reported(env_id):
    env = gym.make(env_id)
    generator = env.unwrapped.generator
    instance = generator.sample(np.random.default_rng(11))
    _, info = env.reset(seed=0, options={"instance": instance})
    assert generator.key(info["instance"]) == generator.key(instance)
    *_, info = env.step(env.action_space.sample())
    assert generator.key(info["instance"]) == generator.key(instance)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_bad_action_and_options_are_refused(env_id):
    env = gym.make(env_id)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(np.full(np.shape(env.action_space.sample()), 99))
    with pytest.raises(ValueError, match="instanse"):
        env.reset(options={"instanse": None})


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_stepping_a_finished_episode_fails(env_id):
    env = gym.make(env_id).unwrapped
    with pytest.raises(ResetNeeded):
        env.step(env.action_space.sample())
    env.reset(seed=0)
    terminated = False
    while not terminated:
        _, _, terminated, _, _ = env.step(env.action_space.sample())
    with pytest.raises(ResetNeeded):
        env.step(env.action_space.sample())


def vector_trace(envs: gym.vector.VectorEnv, seed: int, steps: int) -> list:
    envs.action_space.seed(seed)
    trace = [envs.reset(seed=seed)]
    trace += [envs.step(envs.action_space.sample()) for _ in range(steps)]
    return trace


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_native_vector_env_equals_sync_vector_env(env_id, mode):
    native = gym.make_vec(env_id, 4, vectorization_mode="vector_entry_point", autoreset_mode=mode)
    sync = gym.make_vec(
        env_id, 4, vectorization_mode="sync", vector_kwargs={"autoreset_mode": mode}
    )
    assert native.metadata["autoreset_mode"] == mode
    assert native.single_observation_space == sync.single_observation_space
    assert native.action_space == sync.action_space
    assert_tree_equal(vector_trace(native, 7, 70), vector_trace(sync, 7, 70))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_vector_reset_mask_and_instance_option(env_id):
    native = gym.make_vec(env_id, 3, vectorization_mode="vector_entry_point")
    sync = gym.make_vec(env_id, 3, vectorization_mode="sync")
    instance = native.unwrapped.template.generator.sample(np.random.default_rng(1))
    for envs in (native, sync):
        envs.reset(seed=2)
    mask = np.array([False, True, False])
    options = {"reset_mask": mask, "instance": instance}
    assert_tree_equal(native.reset(options=dict(options)), sync.reset(options=dict(options)))
    with pytest.raises(ValueError, match="reset_mask"):
        native.reset(options={"reset_mask": np.zeros(3, dtype=bool)})


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_vector_env_refuses_bad_actions_and_sizes(env_id):
    envs = gym.make_vec(env_id, 2, vectorization_mode="vector_entry_point")
    envs.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        envs.step(np.full(np.shape(envs.action_space.sample()), 99))
    with pytest.raises(ValueError, match="num_envs"):
        gym.make_vec(env_id, 0, vectorization_mode="vector_entry_point")
