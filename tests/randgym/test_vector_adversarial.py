"""One adversary in the main process for every sub-env of a Gymnasium vector env."""

from __future__ import annotations

from collections import Counter

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import randgym  # noqa: F401
from randgym.envs.batching import batch_index
from randgym.wrappers import (
    AdversarialVectorInstances,
    InstanceSlot,
    TrackingAdversary,
    UniformAdversary,
)
from tests.randgym.helpers import RecordingAdversary

GRID, RECALL = "RandAlg/GridExplore-v0", "RandAlg/AssociativeRecall-v1"


def adversarial(env_id: str, adversary, mode: str = "sync", n_envs: int = 2):
    venv = gym.make_vec(env_id, num_envs=n_envs, vectorization_mode=mode, wrappers=[InstanceSlot])
    return AdversarialVectorInstances(venv, adversary)


def run(venv, steps: int) -> tuple[list, Counter]:
    """Random actions; the finished episodes as (instance key, return) and their sub-envs."""
    generator = venv.adversary.generator
    venv.reset(seed=0)
    returns, finished, per_env = np.zeros(venv.num_envs), [], Counter()
    restarting = np.zeros(venv.num_envs, dtype=bool)
    for _ in range(steps):
        _, rewards, terminations, truncations, infos = venv.step(venv.action_space.sample())
        returns = np.where(restarting, 0.0, returns + rewards)  # a restart step: no reward
        restarting = terminations | truncations
        for index in np.flatnonzero(restarting):
            instance = batch_index(infos["instance"], index)  # an array, or a dict of arrays
            if isinstance(instance, dict):  # Gymnasium's vector info adds "_key" masks
                instance = {k: v for k, v in instance.items() if not k.startswith("_")}
            finished.append((generator.key(instance), returns[index]))
            per_env[index] += 1
    return finished, per_env


@pytest.mark.parametrize(("env_id", "mode"), [(GRID, "sync"), (RECALL, "sync"), (GRID, "async")])
def test_the_adversary_chooses_and_sees_the_episodes_of_all_sub_envs(env_id, mode):
    adversary = RecordingAdversary()
    venv = adversarial(env_id, adversary, mode)
    try:
        finished, per_env = run(venv, steps=120)
    finally:
        venv.close()
    assert per_env[0] > 0 and per_env[1] > 0  # both sub-envs finished episodes
    assert venv.episodes == len(adversary.observed) == len(finished)  # counts add up
    assert adversary.observed == finished  # same instances, same returns, same order
    assert Counter(key for key, _ in finished) <= Counter(adversary.proposed)


def test_one_tracking_adversary_estimates_from_all_worker_processes():
    adversary = TrackingAdversary(q=4, seed=0)
    venv = adversarial(GRID, adversary, "async", n_envs=3)
    try:
        run(venv, steps=150)
    finally:
        venv.close()
    assert venv.episodes >= 3 and np.sum(~np.isnan(adversary.estimates)) >= 3


def test_vector_envs_it_cannot_serve_are_refused():
    plain = gym.make_vec(GRID, num_envs=2, vectorization_mode="sync")
    with pytest.raises(ValueError, match="wrapped in InstanceSlot"):
        AdversarialVectorInstances(plain, UniformAdversary())
    same_step = gym.make_vec(
        GRID, num_envs=2, vectorization_mode="sync", wrappers=[InstanceSlot],
        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
    )  # fmt: skip
    with pytest.raises(ValueError, match="needs AutoresetMode.NEXT_STEP"):
        AdversarialVectorInstances(same_step, UniformAdversary())
    venv = adversarial(GRID, UniformAdversary())
    with pytest.raises(ValueError, match="the adversary chooses the instances"):
        venv.reset(options={"instance": (0, 1)})


def test_a_slot_with_no_instance_refuses_to_reset():
    venv = gym.make_vec(GRID, num_envs=1, vectorization_mode="sync", wrappers=[InstanceSlot])
    with pytest.raises(RuntimeError, match="no instance loaded"):
        venv.reset()
