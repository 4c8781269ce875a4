"""The grid world's game value: the best randomized mixture of deterministic sweeps.

A sweep is the deterministic algorithm of `agents.baselines.grid.PathExplorer` on one
Hamiltonian path of the grid from the start (0, 0): each phase it follows the path until it
steps on the treasure, and once the treasure has been found it walks a shortest path back to
it. An oblivious adversary picks the treasure cell knowing the algorithm (here a probability
distribution over sweeps) but not its random draw, so the best such algorithm solves a
zero-sum matrix game: rows are sweeps, columns treasure cells, entries returns.

Treasure cells (columns) are in the order of the environment's instance indices
(`TreasureGenerator.cells_from_indices`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from agents.metrics import summarize
from randgym.envs.grid_explore import TreasureGenerator
from randgym.envs.validation import check_float, check_int

# From 7 x 7 on a corner has 1,510,446 Hamiltonian paths: too many rows for a quick LP.
MAX_SIZE = 6
# Mixture weights below this are solver noise and are dropped.
_WEIGHT_TOLERANCE = 1e-12


@dataclass(frozen=True)
class GameValue:
    """The solution of a sweeps-against-cells game, from the algorithm's side.

    Attributes:
        value: The worst-case expected return of `mixture`, the game's value.
        mixture: (n_paths,) probabilities of the sweeps, summing to 1.
        support: Indices of the sweeps with positive probability, by decreasing weight.
        best_pure_value: The worst-case return of the best single sweep.
        best_pure_index: The index of that sweep.
        best_pair_value: The worst-case expected return of the best coin flip between two
            sweeps (each played with probability 1/2).
        best_pair: The indices of those two sweeps (equal if no coin flip beats one sweep).
    """

    value: float
    mixture: np.ndarray
    support: np.ndarray
    best_pure_value: float
    best_pure_index: int
    best_pair_value: float
    best_pair: tuple[int, int]


def hamiltonian_paths(size: int) -> np.ndarray:
    """Every Hamiltonian path of the `size` x `size` grid graph from the start (0, 0).

    Args:
        size: The grid's side, 2 to `MAX_SIZE` (the count explodes beyond).

    Returns:
        An int64 array (n_paths, size * size, 2) of `(x, y)` cells, each path starting at
        (0, 0); 2, 8, 52, 824 and 22,144 paths for sizes 2 to 6 (the last takes seconds).
        The paths that start right come first, then their mirror images across the diagonal
        in the same order.
    """
    size = check_int("size", size, 2, MAX_SIZE)
    n_cells = size * size
    neighbours = [_grid_neighbours(cell, size) for cell in range(n_cells)]
    full = (1 << n_cells) - 1
    paths: list[list[int]] = []
    path = [0, 1]

    def extend(cell: int, seen: int) -> None:
        if seen == full:
            paths.append(path.copy())
            return
        for nxt in neighbours[cell]:
            if not seen >> nxt & 1:
                path.append(nxt)
                extend(nxt, seen | 1 << nxt)
                path.pop()

    extend(1, 0b11)  # the paths that start right; the others are their mirror images
    right = np.array(paths, dtype=np.int64)
    right = np.stack([right % size, right // size], axis=-1)
    return np.concatenate([right, right[..., ::-1]])


def _grid_neighbours(cell: int, size: int) -> list[int]:
    """The cells next to `cell` (numbered `x + size * y`) in the order right, up, left, down."""
    x, y = cell % size, cell // size
    moves = [(1, 0), (0, 1), (-1, 0), (0, -1)]
    return [
        x + dx + size * (y + dy) for dx, dy in moves if 0 <= x + dx < size and 0 <= y + dy < size
    ]


def path_returns(
    paths: np.ndarray,
    horizon: int = 25,
    n_phases: int = 2,
    step_reward: float = -1.0,
    find_reward: float = -1.0,
) -> np.ndarray:
    """The return of the sweep along each path on each treasure cell.

    A sweep finds the treasure at path position t in t steps if t <= `horizon`, and then
    each later phase walks the Manhattan distance d <= t back to it. Otherwise it never finds
    it (it repeats the same path every phase) and every phase costs `horizon` steps.

    Args:
        paths: (n_paths, size * size, 2) Hamiltonian paths from (0, 0), as `(x, y)` cells.
        horizon: Steps per phase.
        n_phases: Phases per episode.
        step_reward: The reward of a step that does not find the treasure.
        find_reward: The reward of a step that finds it.

    Returns:
        A float64 array (n_paths, size * size - 1): rows are paths, columns treasure cells
        in instance-index order.
    """
    paths = np.asarray(paths)
    size = _checked_size(paths)
    horizon = check_int("horizon", horizon, 1)
    n_phases = check_int("n_phases", n_phases, 1)
    step_reward = check_float("step_reward", step_reward)
    find_reward = check_float("find_reward", find_reward)

    cells = TreasureGenerator(size).cells_from_indices(np.arange(size * size - 1))
    position = np.empty((len(paths), size, size), dtype=np.int64)
    rows = np.arange(len(paths))[:, None]
    position[rows, paths[..., 0], paths[..., 1]] = np.arange(size * size)
    first = position[:, cells[:, 0], cells[:, 1]]  # (n_paths, n_cells): the finding step
    back = cells.sum(axis=1)  # the walk from the start once found

    def finding(steps: np.ndarray) -> np.ndarray:
        """The return of a phase whose step number `steps` finds the treasure."""
        return (steps - 1) * step_reward + find_reward

    found = finding(first) + (n_phases - 1) * finding(back)
    return np.where(first <= horizon, found, n_phases * horizon * step_reward)


def _checked_size(paths: np.ndarray) -> int:
    """The grid side of `paths`, or a ValueError unless they are Hamiltonian paths from (0, 0)."""
    n_cells = paths.shape[1] if paths.ndim == 3 else 0
    size = max(int(round(np.sqrt(n_cells))), 2)
    integral = np.issubdtype(paths.dtype, np.integer)
    if not integral or paths.ndim != 3 or paths.shape[2] != 2 or size * size != n_cells:
        raise ValueError(
            f"paths of shape {paths.shape} and dtype {paths.dtype} is invalid; expected"
            " integers of shape (n_paths, size * size, 2) with size >= 2"
        )
    in_grid = ((paths >= 0) & (paths < size)).all()
    numbers = np.sort(paths[..., 0] + size * paths[..., 1], axis=1)
    covers = in_grid and (numbers == np.arange(n_cells)).all()
    adjacent = (np.abs(np.diff(paths, axis=1)).sum(axis=2) == 1).all()
    if not (covers and adjacent and (paths[:, 0] == 0).all()):
        raise ValueError(
            "paths are invalid; expected paths from (0, 0) through every cell of the "
            f"{size} x {size} grid once, by moves to adjacent cells"
        )
    return size


def sweep_returns(
    size: int,
    horizon: int = 25,
    n_phases: int = 2,
    step_reward: float = -1.0,
    find_reward: float = -1.0,
) -> np.ndarray:
    """`path_returns` of every sweep: rows follow `hamiltonian_paths(size)`."""
    return path_returns(hamiltonian_paths(size), horizon, n_phases, step_reward, find_reward)


def game_value(returns: np.ndarray) -> GameValue:
    """Solves the game where the row player mixes rows to maximize its worst-column return.

    Args:
        returns: (n_rows, n_columns) finite returns of each row strategy on each column.

    Returns:
        The value (the worst column of `best_mixture`, which achieves it exactly), the
        mixture, the best pure row and the best pair of rows.

    Raises:
        ValueError: If `returns` is not a finite non-empty 2-D array.
        RuntimeError: If the solver fails.
    """
    mixture = best_mixture(returns)
    returns = np.asarray(returns, dtype=np.float64)
    support = np.flatnonzero(mixture)
    worst = returns.min(axis=1)
    pair_value, pair = best_pair(returns)
    return GameValue(
        value=float((returns.T @ mixture).min()),
        mixture=mixture,
        support=support[np.argsort(-mixture[support], kind="stable")],
        best_pure_value=float(worst.max()),
        best_pure_index=int(worst.argmax()),
        best_pair_value=pair_value,
        best_pair=pair,
    )


def best_mixture(returns: np.ndarray) -> np.ndarray:
    """The row player's optimal mixture (n_rows,) of the game `returns` (n_rows, n_columns).

    The linear program: maximize v subject to `returns.T @ p >= v`, `sum(p) = 1`, `p >= 0`
    (HiGHS); weights below solver noise are dropped and the rest renormalized.

    Raises:
        ValueError: If `returns` is not a finite non-empty 2-D array.
        RuntimeError: If the solver fails.
    """
    returns = np.asarray(returns, dtype=np.float64)
    if returns.ndim != 2 or returns.size == 0 or not np.isfinite(returns).all():
        raise ValueError(
            f"returns of shape {returns.shape} is invalid; expected a finite (n_rows, n_columns)"
            " array with n_rows, n_columns >= 1"
        )
    n_rows, n_columns = returns.shape
    # Variables (p_1, ..., p_n, v): minimize -v s.t. v - returns[:, j] @ p <= 0 for every j.
    result = linprog(
        c=np.r_[np.zeros(n_rows), -1.0],
        A_ub=np.c_[-returns.T, np.ones(n_columns)],
        b_ub=np.zeros(n_columns),
        A_eq=np.r_[np.ones(n_rows), 0.0][None],
        b_eq=[1.0],
        bounds=[(0, None)] * n_rows + [(None, None)],
        method="highs",
    )
    if result.status != 0:
        raise RuntimeError(f"the game's linear program failed: {result.message}")
    mixture = np.where(result.x[:n_rows] > _WEIGHT_TOLERANCE, result.x[:n_rows], 0.0)
    return mixture / mixture.sum()


def best_pair(returns: np.ndarray) -> tuple[float, tuple[int, int]]:
    """The best coin flip between two rows of R = ``returns``: ``max_{i<=j} min_c (R_ic + R_jc)/2``.

    Exact, by branch and bound: a row's best partner can at most lift it to the columnwise
    maximum, so rows are tried in the order of that bound and the search stops once no row's
    bound beats the best pair found.

    Returns:
        The pair's worst-case value and its row indices ``(i, j)``, i <= j (i == j: one row).
    """
    bounds = ((returns + returns.max(axis=0)) / 2).min(axis=1)
    best_value, pair = -np.inf, (0, 0)
    for i in np.argsort(-bounds, kind="stable"):
        if bounds[i] <= best_value:
            break
        worst = ((returns[i] + returns) / 2).min(axis=1)
        j = int(worst.argmax())
        if worst[j] > best_value:
            best_value, pair = float(worst[j]), (min(int(i), j), max(int(i), j))
    return best_value, pair


def average_return_bound(
    size: int,
    horizon: int = 25,
    n_phases: int = 2,
    step_reward: float = -1.0,
    find_reward: float = -1.0,
) -> float:
    """An upper bound on any algorithm's average return over uniformly random treasure cells.

    A walk reaches new cells at most one per step, so in phase 1 the k-th cell it discovers
    costs at least min(k, horizon) steps; in each later phase cell c costs at least
    min(d_c, horizon), d_c its distance from the start. An algorithm finds the treasure at
    most once per phase. Since the worst case is at most the average, the bound also caps
    every algorithm's worst-case return, randomized or not.

    Raises:
        ValueError: Unless `step_reward <= 0` and `find_reward >= step_reward` (otherwise
            fewer steps or finds need not mean a higher return).
    """
    size = check_int("size", size, 2)
    horizon, n_phases = check_int("horizon", horizon, 1), check_int("n_phases", n_phases, 1)
    step_reward = check_float("step_reward", step_reward, high=0.0)
    find_reward = check_float("find_reward", find_reward, low=step_reward)
    cells = TreasureGenerator(size).cells_from_indices(np.arange(size * size - 1))
    first = np.minimum(np.arange(1, size * size), horizon).mean()
    back = np.minimum(cells.sum(axis=1), horizon).mean()
    steps = first + (n_phases - 1) * back
    return float(steps * step_reward + n_phases * (find_reward - step_reward))


def grid_references(
    size: int = 5,
    horizon: int = 25,
    n_phases: int = 2,
    step_reward: float = -1.0,
    find_reward: float = -1.0,
) -> dict[str, dict[str, float]]:
    """Summaries over treasure cells of the exact references: the game value, the best sweeps.

    Rows are ``summarize``-d expected returns per cell (average, p95, worst): of the LP's best
    mixture of sweeps (its worst case is the game value), of the best coin flip between two
    sweeps and of the best single sweep. Cached per configuration: the first call for 5 x 5
    enumerates 824 paths and solves the LP (6 x 6: 22,144 paths, about 20 s).
    """
    mixture, pair, best = _reference_returns(size, horizon, n_phases, step_reward, find_reward)
    return {
        "game value: best mixture of sweeps (LP)": summarize(mixture),
        "best coin flip between two sweeps": summarize(pair),
        "best deterministic sweep (LP)": summarize(best),
    }


@functools.lru_cache(maxsize=8)
def _reference_returns(
    size: int, horizon: int, n_phases: int, step_reward: float, find_reward: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-cell returns of the best mixture, coin flip and single sweep (read-only arrays)."""
    returns = sweep_returns(size, horizon, n_phases, step_reward, find_reward)
    game = game_value(returns)
    mixture, best = returns.T @ game.mixture, returns[game.best_pure_index].copy()
    pair = returns[list(game.best_pair)].mean(axis=0)
    for array in (mixture, pair, best):
        array.flags.writeable = False
    return mixture, pair, best
