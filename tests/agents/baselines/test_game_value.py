from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import randgym  # noqa: F401  (registers the environments)
from agents.baselines.game_value import (
    average_return_bound,
    best_pair,
    game_value,
    grid_references,
    hamiltonian_paths,
    path_returns,
    sweep_returns,
)
from agents.baselines.grid import PathExplorer, serpentine, spiral
from randgym.envs.grid_explore import TreasureGenerator


def play_sweep(env: gym.Env, path: np.ndarray, cell: np.ndarray) -> float:
    """The return of PathExplorer along `path` in the real env with the treasure on `cell`."""
    explorer = PathExplorer([[tuple(c) for c in path.tolist()]])
    obs, _ = env.reset(options={"instance": cell})
    total, done = 0.0, False
    while not done:
        obs, reward, done, truncated, _ = env.step(explorer(obs))
        total += reward
        assert not truncated
    return total


def cells_of(size: int) -> np.ndarray:
    return TreasureGenerator(size).cells_from_indices(np.arange(size * size - 1))


def test_lp_solves_small_matrix_games():
    # Matching pennies: value 0, mixture (1/2, 1/2).
    pennies = game_value(np.array([[1.0, -1.0], [-1.0, 1.0]]))
    assert pennies.value == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(pennies.mixture, [0.5, 0.5])
    assert pennies.best_pure_value == -1.0
    # [[3, 0], [1, 2]]: 3p + (1 - p) = 2(1 - p) gives p = 1/4 and value 3/2; pure rows get 0 and 1.
    game = game_value(np.array([[3.0, 0.0], [1.0, 2.0]]))
    assert game.value == pytest.approx(1.5)
    np.testing.assert_allclose(game.mixture, [0.25, 0.75])
    assert list(game.support) == [1, 0]
    assert (game.best_pure_value, game.best_pure_index) == (1.0, 1)
    # A dominated row gets no weight; a saddle point is a pure solution.
    saddle = game_value(np.array([[-3.0, -5.0], [-2.0, -4.0]]))
    assert saddle.value == pytest.approx(-4.0)
    assert list(saddle.support) == [1]


def test_the_best_coin_flip_between_two_rows():
    # Matching pennies halved: the coin flip is the game's solution.
    assert best_pair(np.array([[0.0, -2.0], [-2.0, 0.0]])) == (-1.0, (0, 1))
    # A row that no partner improves is played alone.
    assert best_pair(np.array([[-3.0, 0.0], [-1.0, -1.0]])) == (-1.0, (1, 1))
    # Rock-paper-scissors: a pure row loses 1, any coin flip 1/2, the uniform mixture nothing.
    rps = np.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])
    game = game_value(rps)
    assert (game.best_pure_value, game.best_pair_value) == (-1.0, -0.5)
    assert game.value == pytest.approx(0.0, abs=1e-9)


def test_game_value_refuses_bad_matrices():
    for bad in (np.zeros(3), np.zeros((0, 2)), np.array([[1.0, np.nan]])):
        with pytest.raises(ValueError, match="returns of shape"):
            game_value(bad)


def test_path_counts_and_validity():
    # From a corner: 2, 8, 52 and 824 Hamiltonian paths for sides 2 to 5.
    for size, count in [(2, 2), (3, 8), (4, 52), (5, 824)]:
        paths = hamiltonian_paths(size)
        assert paths.shape == (count, size * size, 2)
        assert len(np.unique(paths.reshape(count, -1), axis=0)) == count
        path_returns(paths)  # validates: from (0, 0), adjacent moves, every cell once
    with pytest.raises(ValueError, match="size=7"):
        hamiltonian_paths(7)


def test_path_returns_refuses_non_paths():
    snake = np.array([serpentine(3)])
    with pytest.raises(ValueError, match="paths are invalid"):
        path_returns(snake[:, ::-1])  # starts at the far end
    with pytest.raises(ValueError, match="paths are invalid"):
        path_returns(np.array([serpentine(3)[:6] + [(0, 2), (2, 2), (1, 2)]]))  # a jump
    with pytest.raises(ValueError, match="paths are invalid"):
        path_returns(np.array([serpentine(3)[:8] + [(1, 2)]]))  # a cell twice
    with pytest.raises(ValueError, match="paths of shape"):
        path_returns(snake[:, :8])
    with pytest.raises(ValueError, match="dtype float64"):
        path_returns(snake.astype(float))


def test_three_by_three_game_by_hand():
    # The 8 paths from (0, 0): four start right, the others are their mirror images.
    #   A: bottom row, right column, top row to (0, 2), down to (0, 1), centre (a spiral)
    #   B: like A to (1, 2), then centre, (0, 1), (0, 2)
    #   C: the serpentine along rows
    #   D: (1, 0), centre, (0, 1), top row from (0, 2), down the right column
    right = [
        [(0, 0), (1, 0), (2, 0), (2, 1), (2, 2), (1, 2), (0, 2), (0, 1), (1, 1)],
        [(0, 0), (1, 0), (2, 0), (2, 1), (2, 2), (1, 2), (1, 1), (0, 1), (0, 2)],
        serpentine(3),
        [(0, 0), (1, 0), (1, 1), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0)],
    ]
    expected = right + [[(y, x) for x, y in path] for path in right]
    paths = hamiltonian_paths(3)
    assert sorted(map(str, paths.tolist())) == sorted(str([list(c) for c in p]) for p in expected)
    # Returns -(t + d): every path is beaten somewhere by -10 or worse (the best pure value);
    # B loses 10 only on (0, 2) (t = 8, d = 2) and its mirror B' only on (2, 0), where the
    # other one gets -4 (t = 2); both get -8 on the centre (t = 6, d = 2) and the far corner
    # (t = 4, d = 4) and at most 8 elsewhere, so B and B' with 1/2 each guarantee -8. The adversary
    # holds any sweep to -8: with the centre (d = 2) at t and the corner (d = 4) at s, the
    # treasure on the centre w.p. 1/3 and on the corner w.p. 2/3 gives -(t + 2s + 10) / 3,
    # and t + 2s >= 14 on all 8 paths (A: 8 + 8, B: 6 + 8, C: 4 + 16, D: 2 + 12).
    returns = sweep_returns(3)
    game = game_value(returns)
    assert game.value == pytest.approx(-8.0)
    assert game.best_pure_value == -10.0
    b, b_mirror = (
        int(np.flatnonzero((paths == np.array(p)).all(axis=(1, 2)))[0])
        for p in (expected[1], expected[5])
    )
    half = np.zeros(len(paths))
    half[[b, b_mirror]] = 0.5
    assert (returns.T @ half).min() == pytest.approx(-8.0)
    cells = cells_of(3).tolist()
    adversary = np.zeros(len(cells))
    adversary[cells.index([1, 1])], adversary[cells.index([2, 2])] = 1 / 3, 2 / 3
    assert (returns @ adversary).max() == pytest.approx(-8.0)


def test_sweep_returns_match_env_rollouts():
    env = gym.make("RandAlg/GridExplore-v0")
    paths = hamiltonian_paths(5)
    picked = np.concatenate([np.array([serpentine(5), spiral(5)]), paths[[0, 411, 823]]])
    rollouts = [[play_sweep(env, path, cell) for cell in cells_of(5)] for path in picked]
    np.testing.assert_allclose(path_returns(picked), rollouts)
    assert (path_returns(paths[[0, 411, 823]]) == sweep_returns(5)[[0, 411, 823]]).all()


def test_truncated_sweeps_match_env_rollouts():
    # A 4 x 4 path has 15 moves, so a horizon of 9 leaves its last cells unfound forever.
    kwargs = {"horizon": 9, "n_phases": 3, "step_reward": -0.1, "find_reward": 1.0}
    env = gym.make("RandAlg/GridExplore-v0", size=4, **kwargs)
    picked = np.array([serpentine(4), spiral(4, clockwise=False)])
    rollouts = [[play_sweep(env, path, cell) for cell in cells_of(4)] for path in picked]
    returns = path_returns(picked, **kwargs)
    np.testing.assert_allclose(returns, rollouts)
    assert returns.min() == pytest.approx(3 * 9 * -0.1)  # some cells are never found


def test_five_by_five_value():
    returns = sweep_returns(5)
    game = game_value(returns)
    assert (returns.T @ game.mixture >= game.value - 1e-9).all()
    assert game.mixture.sum() == pytest.approx(1.0) and (game.mixture >= 0).all()
    assert game.mixture[game.support].min() > 0 and game.mixture.sum() == pytest.approx(
        game.mixture[game.support].sum()
    )
    assert game.best_pure_value == -26.0 == returns[game.best_pure_index].min()
    assert -17.90 <= game.value <= -17.84
    # A coin flip between two sweeps gets most of the way: every pair, checked by brute force.
    pairs = max(((returns[i] + returns[i:]) / 2).min(axis=1).max() for i in range(len(returns)))
    assert game.best_pair_value == pairs == -19.0
    assert returns[list(game.best_pair)].mean(axis=0).min() == -19.0
    # Every sweep averages -(12.5 + 100 / 24) over cells, which caps the value too.
    bound = average_return_bound(5)
    assert bound == pytest.approx(-(12.5 + 100 / 24))
    np.testing.assert_allclose(returns.mean(axis=1), bound)
    assert game.best_pure_value < game.value < bound


def test_average_bound_refuses_reward_scales_it_does_not_cover():
    with pytest.raises(ValueError, match="step_reward=0.5"):
        average_return_bound(5, step_reward=0.5)
    with pytest.raises(ValueError, match="find_reward=-2.0"):
        average_return_bound(5, find_reward=-2.0)


def test_grid_references_table():
    table = grid_references()
    game, pair, best = table.values()
    names = [
        "game value: best mixture of sweeps (LP)",
        "best coin flip between two sweeps",
        "best deterministic sweep (LP)",
    ]
    assert list(table) == names
    assert game["worst"] == pytest.approx(-17.8526, abs=1e-3) and best["worst"] == -26.0
    assert pair["worst"] == -19.0
    assert game["average"] == pytest.approx(-50 / 3) == best["average"]  # every sweep: -16.67
