"""SB3's PPO builds and trains on every randgym env, with and without an adversary."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

import randgym
from agents.sb3.adversary import make_adversarial_vec_env
from randgym.wrappers import (
    AdversarialInstances,
    PolicySeedObservation,
    TrackingAdversary,
    UniformAdversary,
)

ADVERSARIES = {
    "none": None,
    "uniform": lambda: UniformAdversary(seed=0),
    "tracking": lambda: TrackingAdversary(q=8, seed=0),
}
STEPS = 256  # two rollouts of 64 steps x 2 sub-envs, two updates


def train(venv) -> PPO:
    try:
        model = PPO("MultiInputPolicy", venv, n_steps=64, batch_size=64, n_epochs=1, seed=0)
        model.learn(total_timesteps=STEPS)
        actions, _ = model.predict(venv.reset())
    finally:
        venv.close()
    assert model.num_timesteps == STEPS and len(actions) == venv.num_envs
    return model


@pytest.mark.parametrize("vec_env_cls", [DummyVecEnv, SubprocVecEnv])
@pytest.mark.parametrize("adversary", list(ADVERSARIES))
@pytest.mark.parametrize("env_id", randgym.ENV_IDS)
def test_ppo_trains_on_every_env(env_id, adversary, vec_env_cls):
    make_adversary = ADVERSARIES[adversary]
    wrapper = None
    if make_adversary is not None:

        def wrapper(env: gym.Env) -> gym.Env:
            return AdversarialInstances(env, make_adversary())

    venv = make_vec_env(
        env_id,
        n_envs=2,
        seed=0,
        vec_env_cls=vec_env_cls,
        wrapper_class=wrapper,
        vec_env_kwargs={"start_method": "fork"} if vec_env_cls is SubprocVecEnv else None,
    )
    if make_adversary is not None:  # one adversary per sub-env, each built in its process
        assert venv.env_is_wrapped(AdversarialInstances) == [True, True]
    train(venv)


@pytest.mark.parametrize("env_id", randgym.ENV_IDS)
def test_ppo_trains_seed_conditioned_against_one_shared_tracking_adversary(env_id):
    adversary = TrackingAdversary(q=8, seed=0)
    venv = make_adversarial_vec_env(
        env_id, adversary, n_envs=2, seed=0, wrapper_class=PolicySeedObservation
    )
    train(venv)
    assert venv.episodes > 0 and np.sum(~np.isnan(adversary.estimates)) > 0
