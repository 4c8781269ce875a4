"""Hand-written grid-world explorers: follow a Hamiltonian path, then walk back to the treasure."""

from __future__ import annotations

import numpy as np

# Actions of RandAlg/GridExplore-v0 as (dx, dy).
_ACTION_OF_MOVE = {(-1, 0): 0, (0, 1): 1, (1, 0): 2, (0, -1): 3}


def serpentine(size: int, by_rows: bool = True) -> list[tuple[int, int]]:
    """The boustrophedon path from (0, 0) along rows (or columns)."""
    path = []
    for line in range(size):
        along = range(size) if line % 2 == 0 else reversed(range(size))
        path += [(a, line) if by_rows else (line, a) for a in along]
    return path


def spiral(size: int, clockwise: bool = True) -> list[tuple[int, int]]:
    """The spiral path from (0, 0) to the centre, starting up (clockwise) or right."""
    low, high, path = 0, size - 1, []
    while low <= high:
        ring = [(low, y) for y in range(low, high + 1)]
        ring += [(x, high) for x in range(low + 1, high + 1)]
        ring += [(high, y) for y in reversed(range(low, high))]
        ring += [(x, low) for x in reversed(range(low + 1, high))]
        path += ring if clockwise else [(y, x) for x, y in ring]
        low, high = low + 1, high - 1
    return list(dict.fromkeys(path))


def all_paths(size: int) -> list[list[tuple[int, int]]]:
    """Four covering paths from the start: two serpentines and two spirals."""
    return [
        serpentine(size, True),
        serpentine(size, False),
        spiral(size, True),
        spiral(size, False),
    ]


class PathExplorer:
    """Explores along one path (picked by `policy_seed` among `paths`), then exploits.

    With one path it is a deterministic algorithm; with several, a randomized one whose
    random choice the oblivious adversary does not see.
    """

    def __init__(self, paths: list[list[tuple[int, int]]], policy_seed: int = 0) -> None:
        path = paths[np.random.default_rng(policy_seed).integers(len(paths))]
        self.next_cell = {path[i]: path[i + 1] for i in range(len(path) - 1)}

    def __call__(self, obs: dict) -> int:
        """The action for a GridExplore observation."""
        x, y = (int(v) for v in obs["position"])
        if obs["treasure"].any():
            tx, ty = np.argwhere(obs["treasure"])[0]
            target = (x + int(np.sign(tx - x)), y) if tx != x else (x, y + int(np.sign(ty - y)))
        else:
            target = self.next_cell.get((x, y), (x, y - 1))
        return _ACTION_OF_MOVE[(target[0] - x, target[1] - y)]
