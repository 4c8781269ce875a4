"""The grid player's tokens, checked feature by feature on hand-made episodes."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import randgym  # noqa: F401
from agents.tasks.grid.player import GridPlayer

ENV = gym.make("RandAlg/GridExplore-v0").unwrapped  # 5 x 5, 2 phases
RIGHT, UP = 2, 1


def played(treasures: list[tuple[int, int]], moves: list[list[int]]):
    """The observations of episodes on `treasures` after each playing its `moves`."""
    dynamics = ENV.dynamics
    state = dynamics.reset(np.array(treasures))
    for actions in moves:
        state = dynamics.step(state, np.array(actions)).state
    return dynamics.observe(state)


def ones_of(token) -> list[int]:
    return np.flatnonzero(token.numpy() == 1).tolist()


def test_tokens_hold_the_cell_reward_phase_and_found_treasure():
    # both move right, then up: episode 0 steps onto its treasure (1, 0) and phase 2
    # restarts it at the start, from where it moves up; episode 1 never finds (4, 4)
    obs = played([(1, 0), (4, 4)], [[RIGHT, RIGHT], [UP, UP]])
    tokens = GridPlayer(ENV, visited_map=False).tokens(obs)
    # columns: x one-hot 0-4, y one-hot 5-9, reward 10, phase 11-12, found x 13-17, y 18-22
    assert tokens.shape == (2, 23)
    assert ones_of(tokens[0]) == [0 + 0, 5 + 1, 12, 13 + 1, 18 + 0]  # at (0, 1), phase 2
    assert ones_of(tokens[1]) == [0 + 1, 5 + 1, 11]  # at (1, 1), phase 1, nothing found
    assert tokens[:, 10].tolist() == [-1.0, -1.0]


def test_tokens_end_with_the_visited_map():
    obs = played([(4, 4)], [[RIGHT], [UP]])
    tokens = GridPlayer(ENV, visited_map=True).tokens(obs)
    visited = np.zeros((5, 5))
    visited[0, 0] = visited[1, 0] = visited[1, 1] = 1
    np.testing.assert_array_equal(tokens[0, 23:].numpy(), visited.reshape(-1))
    assert ones_of(tokens[0, :23]) == [1, 6, 11]
