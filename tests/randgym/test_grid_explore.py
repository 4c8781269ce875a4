"""GridExplore: instances, exact returns of scripted policies, dynamics properties, bad input."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import randgym  # noqa: F401
from randgym.envs.grid_explore.core import GridDynamics
from randgym.envs.grid_explore.generator import TreasureGenerator

SIZE = 5
ALL_CELLS = [(x, y) for y in range(SIZE) for x in range(SIZE) if (x, y) != (0, 0)]


def sweep_order(x: int, y: int) -> int:
    """The step at which a boustrophedon sweep (right along even rows) first reaches (x, y)."""
    return SIZE * y + (x if y % 2 == 0 else SIZE - 1 - x)


def sweep_then_exploit(obs: dict) -> int:
    """Phase 1: sweep row by row; later phases: walk right, then up, to the found treasure."""
    if obs["phase"] == 0:
        x, y = obs["position"]
        at_row_end = x == (SIZE - 1 if y % 2 == 0 else 0)
        return 1 if at_row_end else (2 if y % 2 == 0 else 0)
    tx, ty = np.argwhere(obs["treasure"])[0]
    return 2 if obs["position"][0] < tx else 1


def episode_return(env: gym.Env, policy, instance) -> float:
    obs, _ = env.reset(options={"instance": instance})
    total, done = 0.0, False
    while not done:
        obs, reward, done, truncated, _ = env.step(policy(obs))
        assert not truncated
        total += reward
    return total


def test_instances_are_the_24_cells_off_the_start():
    generator = TreasureGenerator(SIZE)
    instances = [tuple(cell) for cell in generator.instances()]
    assert generator.num_instances == 24 and sorted(instances) == sorted(ALL_CELLS)
    for index, cell in enumerate(generator.instances()):
        assert generator.index_of(cell) == index
    assert TreasureGenerator(7).num_instances == 48


def test_sample_batch_is_uniform_over_cells():
    generator = TreasureGenerator(SIZE)
    cells = generator.sample_batch(np.random.default_rng(0), 240_000)
    counts = np.array([np.sum((cells == c).all(axis=1)) for c in ALL_CELLS])
    # Each count is Binomial(240000, 1/24): mean 10000, sd ~98; 6 sd bounds fail w.p. < 1e-8.
    assert np.all(np.abs(counts - 10_000) < 6 * 98)


@pytest.mark.parametrize("cell", ALL_CELLS)
def test_sweep_return_matches_hand_computed_value(cell):
    env = gym.make("RandAlg/GridExplore-v0")
    x, y = cell
    assert episode_return(env, sweep_then_exploit, cell) == -(sweep_order(x, y) + x + y)


def test_sweep_return_on_the_text_reward_scale():
    env = gym.make("RandAlg/GridExplore-v0", step_reward=-0.1, find_reward=1.0)
    k, d = sweep_order(4, 4), 8
    expected = -0.1 * (k - 1) + 1.0 - 0.1 * (d - 1) + 1.0
    assert episode_return(env, sweep_then_exploit, (4, 4)) == pytest.approx(expected)


def test_never_finding_the_treasure_costs_both_full_phases():
    env = gym.make("RandAlg/GridExplore-v0")
    assert episode_return(env, lambda obs: 0, (3, 3)) == -50  # always walks into the left wall


def test_walls_leave_the_agent_in_place_and_cost_a_step():
    env = gym.make("RandAlg/GridExplore-v0")
    env.reset(options={"instance": (4, 4)})
    obs, reward, *_ = env.step(3)
    assert tuple(obs["position"]) == (0, 0) and obs["step"] == 1 and reward == -1


def test_finding_restarts_the_phase_and_shows_the_treasure():
    env = gym.make("RandAlg/GridExplore-v0")
    obs, _ = env.reset(options={"instance": (1, 0)})
    assert not obs["treasure"].any()
    obs, reward, terminated, _, info = env.step(2)
    assert info["found"] and not terminated and reward == -1
    assert tuple(obs["position"]) == (0, 0) and obs["phase"] == 1 and obs["step"] == 0
    assert obs["treasure"][1, 0] == 1 and obs["treasure"].sum() == 1
    assert obs["visited"].sum() == 1
    obs, reward, terminated, _, info = env.step(2)
    assert info["found"] and terminated and reward == -1


@settings(max_examples=60, deadline=None)
@given(
    treasure=st.sampled_from(ALL_CELLS),
    actions=st.lists(st.integers(0, 3), min_size=50, max_size=50),
)
def test_dynamics_properties(treasure, actions):
    dynamics = GridDynamics()
    state = dynamics.reset(np.array([treasure]))
    total, steps = 0.0, 0
    for action in actions:
        was_done = bool(state.done[0])
        result = dynamics.step(state, np.array([action]))
        state = result.state
        total += result.reward[0]
        steps += not was_done
        assert ((state.position >= 0) & (state.position < SIZE)).all()
        assert state.visited[0][tuple(state.position[0])] or state.done[0]
        if was_done:
            assert result.reward[0] == 0 and not result.terminated[0]
    assert state.done[0]  # 50 actions always end a 2 x 25-step episode
    assert total == -steps and -50 <= total <= -2


def test_batched_core_equals_one_episode_at_a_time():
    dynamics = GridDynamics()
    rng = np.random.default_rng(0)
    treasures = TreasureGenerator(SIZE).sample_batch(rng, 16)
    actions = rng.integers(0, 4, size=(50, 16))
    batch = dynamics.reset(treasures)
    singles = [dynamics.reset(treasures[i : i + 1]) for i in range(16)]
    for t in range(50):
        batch_result = dynamics.step(batch, actions[t])
        batch = batch_result.state
        for i in range(16):
            single_result = dynamics.step(singles[i], actions[t, i : i + 1])
            singles[i] = single_result.state
            assert single_result.reward[0] == batch_result.reward[i]
            np.testing.assert_array_equal(single_result.state.visited[0], batch.visited[i])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 1}, "size=1"),
        ({"size": 5.0}, "size=5.0"),
        ({"horizon": 0}, "horizon=0"),
        ({"n_phases": 0}, "n_phases=0"),
        ({"step_reward": float("nan")}, "step_reward=nan"),
        ({"find_reward": "1"}, "find_reward='1'"),
    ],
)
def test_bad_kwargs_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make("RandAlg/GridExplore-v0", **kwargs)


@pytest.mark.parametrize(
    ("instance", "message"),
    [
        ((0, 0), "start cell"),
        ((5, 1), "off the 5x5 grid"),
        ((-1, 2), "off the 5x5 grid"),
        ((1,), "two integers"),
        ((1.0, 2.0), "two integers"),
        ([[1, 2]], "two integers"),
    ],
)
def test_bad_instances_are_refused(instance, message):
    env = gym.make("RandAlg/GridExplore-v0")
    with pytest.raises(ValueError, match=message):
        env.reset(options={"instance": instance})


def test_bad_index_is_refused():
    with pytest.raises(ValueError, match="out of range"):
        TreasureGenerator(SIZE).instance_from_index(24)


def test_text_rendering_shows_agent_treasure_and_trail():
    env = gym.make("RandAlg/GridExplore-v0", render_mode="ansi")
    env.reset(options={"instance": (4, 4)})
    env.step(2)
    lines = env.render().splitlines()
    assert lines[1] == "|....T|" and lines[5] == "|*A...|"
    assert "phase 1/2" in lines[-1]
