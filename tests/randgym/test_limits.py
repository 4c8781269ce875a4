"""Upper bounds on env kwargs and `num_envs`: refused at once, naming the value and the bound."""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
import pytest

import randgym
from randgym.envs.associative_recall import RecallGenerator
from randgym.envs.graph_coloring import CycleGenerator, ErdosRenyiGenerator
from randgym.envs.limits import (
    COLORING_MAX_COLORS,
    COLORING_MAX_VERTICES,
    GRID_MAX_HORIZON,
    GRID_MAX_PHASES,
    GRID_MAX_SIZE,
    MAX_BATCH_OBSERVATION_BYTES,
    MAX_NUM_ENVS,
    RECALL_MAX_PAIRS,
    RECALL_MAX_VALUE_BITS,
    check_batch_bytes,
    observation_bytes,
)
from randgym.envs.validation import check_float, check_int

GRID, RECALL, COLORING = randgym.ENV_IDS

BOUNDS = [
    (GRID, "size", 2, GRID_MAX_SIZE),
    (GRID, "horizon", 1, GRID_MAX_HORIZON),
    (GRID, "n_phases", 1, GRID_MAX_PHASES),
    (RECALL, "n_pairs", 1, RECALL_MAX_PAIRS),
    (RECALL, "value_bits", 1, RECALL_MAX_VALUE_BITS),
    (COLORING, "n_vertices", 3, COLORING_MAX_VERTICES),
    (COLORING, "n_colors", 2, COLORING_MAX_COLORS),
]


def make(env_id: str, mode: str, **kwargs) -> gym.Env | gym.vector.VectorEnv:
    """The env through `gym.make`, or two of them through the native vector env."""
    if mode == "make":
        return gym.make(env_id, **kwargs)
    return gym.make_vec(env_id, 2, vectorization_mode="vector_entry_point", **kwargs)


@pytest.mark.parametrize("mode", ["make", "vector"])
@pytest.mark.parametrize(("env_id", "kwarg", "low", "high"), BOUNDS)
def test_each_bound_is_refused_at_once_naming_kwarg_value_and_bound(mode, env_id, kwarg, low, high):
    message = rf"^{kwarg}=1000000 must be an integer in \[{low}, {high}\]$"
    start = time.perf_counter()
    with pytest.raises(ValueError, match=message):
        make(env_id, mode, **{kwarg: 10**6})
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(("env_id", "kwarg", "low", "high"), BOUNDS)
def test_each_bound_itself_is_accepted(env_id, kwarg, low, high):
    env = gym.make(env_id, **{kwarg: high})
    env.reset(seed=0)
    owner = env.unwrapped if kwarg == "n_colors" else env.unwrapped.dynamics
    assert getattr(owner, kwarg) == high
    with pytest.raises(ValueError, match=rf"{kwarg}={high + 1} must be"):
        gym.make(env_id, **{kwarg: high + 1})


@pytest.mark.parametrize("mode", ["make", "vector"])
@pytest.mark.parametrize(
    ("env_id", "kwargs", "match"),
    [
        (GRID, {"size": True}, "size=True must be an integer"),
        (RECALL, {"n_pairs": np.bool_(True)}, r"n_pairs=(np\.)?True_? must be an integer"),
        (GRID, {"step_reward": float("nan")}, "step_reward=nan must be a finite number"),
        (GRID, {"find_reward": -float("inf")}, "find_reward=-inf must be a finite number"),
        (COLORING, {"edge_prob": float("nan")}, "edge_prob=nan must be a finite number"),
    ],
)
def test_bools_and_non_finite_floats_are_refused(mode, env_id, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(env_id, mode, **kwargs)


def test_generators_used_directly_check_their_bounds_too():
    with pytest.raises(ValueError, match=r"n_pairs=2000 must be an integer in \[1, 1024\]"):
        RecallGenerator(2000, 5)
    with pytest.raises(ValueError, match=r"value_bits=31 must be an integer in \[1, 30\]"):
        RecallGenerator(15, 31)
    for generator_class in (CycleGenerator, ErdosRenyiGenerator):
        with pytest.raises(ValueError, match=r"n_vertices=10000 must be an integer in \[3, 256\]"):
            generator_class(10_000)


@pytest.mark.parametrize("env_id", randgym.ENV_IDS)
@pytest.mark.parametrize("num_envs", [0, True, 2.0, MAX_NUM_ENVS + 1])
def test_vector_env_refuses_a_bad_num_envs(env_id, num_envs):
    with pytest.raises(ValueError, match=rf"num_envs={num_envs!r} must be an integer in \[1, "):
        gym.make_vec(env_id, num_envs, vectorization_mode="vector_entry_point")


def test_vector_env_refuses_a_batch_of_observations_over_the_byte_cap():
    per_env = COLORING_MAX_VERTICES**2  # one int8 adjacency matrix
    most = MAX_BATCH_OBSERVATION_BYTES // per_env
    start = time.perf_counter()
    with pytest.raises(ValueError, match=rf"num_envs={most + 1} .* expected num_envs <= {most}$"):
        gym.make_vec(COLORING, most + 1, vectorization_mode="vector_entry_point", n_vertices=256)
    assert time.perf_counter() - start < 1.0
    check_batch_bytes(most, gym.make(COLORING, n_vertices=256).observation_space)


def test_observation_bytes_adds_up_every_array_of_the_dict():
    space = gym.make(GRID).observation_space
    # position 2 x int64, phase and step int64, last_reward float32, visited and treasure 5x5 int8
    assert observation_bytes(space) == 2 * 8 + 8 + 8 + 4 + 25 + 25
    assert observation_bytes(gym.make(RECALL).observation_space) == 15 * 5 + 15


def test_check_int_and_check_float():
    assert check_int("n", np.int32(7), 1, 7) == 7 and isinstance(check_int("n", 7, 1), int)
    assert check_int("n", 10**30, 1) == 10**30  # no maximum, no bound
    with pytest.raises(ValueError, match=r"n=8 must be an integer in \[1, 7\]"):
        check_int("n", 8, 1, 7)
    with pytest.raises(ValueError, match="n=0 must be an integer >= 1$"):
        check_int("n", 0, 1)
    with pytest.raises(ValueError, match=r"x=inf must be a finite number$"):
        check_float("x", float("inf"))
    with pytest.raises(ValueError, match=r"x=2.0 must be a finite number in \[0.0, 1.0\]"):
        check_float("x", 2.0, 0.0, 1.0)
