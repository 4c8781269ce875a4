"""One adversary in the main process for every sub-env of an SB3 VecEnv."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

import randgym
from agents.sb3.adversary import AdversarialVecEnv, InstanceSlot, make_adversarial_vec_env
from randgym.wrappers import PolicySeedObservation, TrackingAdversary, UniformAdversary
from tests.randgym.helpers import RecordingAdversary

FORK = {"start_method": "fork"}  # fast worker start-up; one test keeps SB3's default method


def run(venv, steps: int) -> tuple[list, Counter]:
    """Random actions; the finished episodes as (instance key, return) and their sub-envs."""
    generator = venv.adversary.generator
    venv.reset()
    returns, finished, per_env = np.zeros(venv.num_envs), [], Counter()
    for _ in range(steps):
        actions = np.array([venv.action_space.sample() for _ in range(venv.num_envs)])
        _, rewards, dones, infos = venv.step(actions)
        returns += rewards
        for index in np.flatnonzero(dones):
            finished.append((generator.key(infos[index]["instance"]), returns[index]))
            per_env[index] += 1
            returns[index] = 0.0
    return finished, per_env


GRID, RECALL = "RandAlg/GridExplore-v0", "RandAlg/AssociativeRecall-v1"


@pytest.mark.parametrize(
    ("env_id", "vec_env_cls", "vec_env_kwargs"),
    [
        (GRID, DummyVecEnv, None),
        (RECALL, DummyVecEnv, None),
        (GRID, SubprocVecEnv, FORK),
        (RECALL, SubprocVecEnv, None),  # SB3's default start method pickles the env makers
    ],
)
def test_the_adversary_chooses_and_sees_the_episodes_of_all_workers(
    env_id, vec_env_cls, vec_env_kwargs
):
    adversary = RecordingAdversary()
    venv = make_adversarial_vec_env(
        env_id, adversary, n_envs=2, seed=0, vec_env_cls=vec_env_cls, vec_env_kwargs=vec_env_kwargs
    )
    try:
        finished, per_env = run(venv, steps=120)
    finally:
        venv.close()
    assert per_env[0] > 0 and per_env[1] > 0  # both workers finished episodes
    assert venv.episodes == len(adversary.observed) == len(finished)  # counts add up
    assert adversary.observed == finished  # same instances, same returns, same order
    assert Counter(key for key, _ in finished) <= Counter(adversary.proposed)


def test_a_slot_with_no_instance_refuses_to_reset():
    venv = make_vec_env("RandAlg/GridExplore-v0", n_envs=1, wrapper_class=InstanceSlot)
    with pytest.raises(RuntimeError, match="no instance loaded"):
        venv.reset()


def test_a_vec_env_without_slots_is_refused():
    with pytest.raises(ValueError, match="wrapped in InstanceSlot"):
        AdversarialVecEnv(make_vec_env("RandAlg/GridExplore-v0", n_envs=2), UniformAdversary())


def test_a_sub_env_wrapper_goes_inside_the_slot():
    venv = make_adversarial_vec_env(
        "RandAlg/GraphColoring-v0",
        UniformAdversary(seed=0),
        n_envs=2,
        wrapper_class=PolicySeedObservation,
        wrapper_kwargs={"bits": 8},
    )
    obs = venv.reset()
    assert obs["policy_seed"].shape == (2, 8) and obs["adjacency"].shape == (2, 10, 10)
    assert all(venv.env_is_wrapped(PolicySeedObservation))


@pytest.mark.parametrize("vec_env_cls", [DummyVecEnv, SubprocVecEnv])
@pytest.mark.parametrize("env_id", randgym.ENV_IDS)
def test_ppo_trains_with_one_tracking_adversary(env_id, vec_env_cls):
    adversary = TrackingAdversary(q=8, seed=0)
    kwargs = {"vec_env_kwargs": FORK} if vec_env_cls is SubprocVecEnv else {}
    venv = make_adversarial_vec_env(
        env_id, adversary, n_envs=2, seed=0, vec_env_cls=vec_env_cls, **kwargs
    )
    try:
        model = PPO("MultiInputPolicy", venv, n_steps=64, batch_size=64, n_epochs=1, seed=0)
        model.learn(total_timesteps=256)
    finally:
        venv.close()
    assert venv.episodes > 0
    assert 0 < np.sum(~np.isnan(adversary.estimates)) <= venv.episodes
