"""Batched dynamics of graph coloring, as pure functions on arrays.

A batch of `n` one-step episodes is a `ColoringState` of arrays with leading dimension `n`.
The action colors every vertex at once; the episode ends right after.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from randgym.envs.dynamics import StepResult


class ColoringState(NamedTuple):
    """A batch of graph-coloring episodes."""

    adjacency: np.ndarray  # (n, N, N) int8, the instance
    coloring: np.ndarray  # (n, N) int64, the colors played; -1 before the step
    conflicts: np.ndarray  # (n,) int64, monochromatic edges of `coloring`
    done: np.ndarray  # (n,) bool


def count_conflicts(adjacency: np.ndarray, colorings: np.ndarray) -> np.ndarray:
    """The number (n,) int64 of edges u < v with equal colors.

    Args:
        adjacency: (n, N, N) symmetric 0/1 adjacency matrices with a zero diagonal.
        colorings: (n, N) integer colors, one per vertex.
    """
    colorings = np.asarray(colorings)
    same = colorings[:, :, None] == colorings[:, None, :]  # (n, N, N)
    return (same & (np.asarray(adjacency) != 0)).sum(axis=(1, 2)) // 2


def conflicting_edges(adjacency: np.ndarray, coloring: np.ndarray) -> np.ndarray:
    """The monochromatic edges (m, 2) `(u, v)`, u < v, of one graph (N, N) and coloring (N,)."""
    same = coloring[:, None] == coloring[None, :]
    return np.argwhere(np.triu(same & (adjacency != 0)))


@dataclass(frozen=True)
class ColoringDynamics:
    """The coloring rules; all methods are pure functions of their arguments."""

    n_vertices: int = 10

    def reset(self, instances: np.ndarray) -> ColoringState:
        """Uncolored episodes on the graphs `instances` (n, N, N)."""
        n = len(instances)
        return ColoringState(
            adjacency=np.array(instances, dtype=np.int8),
            coloring=np.full((n, self.n_vertices), -1, dtype=np.int64),
            conflicts=np.zeros(n, dtype=np.int64),
            done=np.zeros(n, dtype=bool),
        )

    def step(self, state: ColoringState, actions: np.ndarray) -> StepResult:
        """Colors every unfinished graph with `actions` (n, N): reward 1 iff no conflicts."""
        active = ~state.done
        counted = count_conflicts(state.adjacency, actions)
        conflicts = np.where(active, counted, 0)
        reward = (active & (counted == 0)).astype(np.float64)
        new_state = ColoringState(
            adjacency=state.adjacency,
            coloring=np.where(active[:, None], actions, state.coloring),
            conflicts=np.where(active, counted, state.conflicts),
            done=np.ones_like(state.done),
        )
        return StepResult(new_state, reward, active, {"conflicts": conflicts})

    def observe(self, state: ColoringState) -> dict[str, np.ndarray]:
        """The adjacency matrices (n, N, N) int8."""
        return {"adjacency": state.adjacency.copy()}

    def instances(self, state: ColoringState) -> np.ndarray:
        """The graphs, (n, N, N) int8."""
        return state.adjacency
