"""Batched dynamics of the grid world, as pure functions on arrays.

A batch of `n` episodes is a `GridState` of arrays with leading dimension `n`. An episode is
`n_phases` phases of at most `horizon` steps: a phase ends when the agent steps onto the
treasure or its horizon runs out, and the next phase restarts the agent on (0, 0) with the
same treasure. Cells are `(x, y)` with (0, 0) the lower-left corner; maps are indexed `[x, y]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from randgym.envs.dynamics import StepResult

# Actions 0 left, 1 up, 2 right, 3 down, as (dx, dy).
MOVES = np.array([[-1, 0], [0, 1], [1, 0], [0, -1]], dtype=np.int64)
ACTION_NAMES = ("left", "up", "right", "down")


class GridState(NamedTuple):
    """A batch of grid-world episodes."""

    treasure: np.ndarray  # (n, 2) int64, the instance
    position: np.ndarray  # (n, 2) int64
    phase: np.ndarray  # (n,) int64, == n_phases once the episode is over
    step: np.ndarray  # (n,) int64, steps taken in the current phase
    visited: np.ndarray  # (n, size, size) bool, cells seen in the current phase
    found: np.ndarray  # (n,) bool, the treasure has been found in some phase
    last_reward: np.ndarray  # (n,) float64
    done: np.ndarray  # (n,) bool


@dataclass(frozen=True)
class GridDynamics:
    """The grid world's rules; all methods are pure functions of their arguments."""

    size: int = 5
    horizon: int = 25
    n_phases: int = 2
    step_reward: float = -1.0
    find_reward: float = -1.0

    def reset(self, instances: np.ndarray) -> GridState:
        """Episodes on treasure cells `instances` (n, 2), agents on the start cell."""
        n = len(instances)
        visited = np.zeros((n, self.size, self.size), dtype=bool)
        visited[:, 0, 0] = True
        zeros = np.zeros(n, dtype=np.int64)
        return GridState(
            treasure=np.array(instances, dtype=np.int64),
            position=np.zeros((n, 2), dtype=np.int64),
            phase=zeros,
            step=zeros.copy(),
            visited=visited,
            found=np.zeros(n, dtype=bool),
            last_reward=np.zeros(n, dtype=np.float64),
            done=np.zeros(n, dtype=bool),
        )

    def step(self, state: GridState, actions: np.ndarray) -> StepResult:
        """Moves every unfinished agent; walls leave it in place and still cost the step."""
        active = ~state.done
        moved = np.clip(state.position + MOVES[actions], 0, self.size - 1)
        position = np.where(active[:, None], moved, state.position)
        step = state.step + active
        x, y = position[:, 0], position[:, 1]
        hit = active & (x == state.treasure[:, 0]) & (y == state.treasure[:, 1])
        reward = np.where(hit, self.find_reward, self.step_reward) * active
        visited = state.visited.copy()
        rows = np.flatnonzero(active)
        cells = (rows * self.size + x[rows]) * self.size + y[rows]  # flat index [row, x, y]
        visited.reshape(-1)[cells] = True
        entered = position.copy()
        phase_over = active & (hit | (step >= self.horizon))
        phase = state.phase + phase_over
        done = phase >= self.n_phases
        restart = phase_over & ~done
        position[restart] = 0
        step[restart] = 0
        visited[restart] = False
        visited[restart, 0, 0] = True
        new_state = GridState(
            treasure=state.treasure,
            position=position,
            phase=phase,
            step=step,
            visited=visited,
            found=state.found | hit,
            last_reward=np.where(active, reward, state.last_reward),
            done=done,
        )
        info = {"found": hit, "cell": entered}
        return StepResult(new_state, reward, done & active, info)

    def observe(self, state: GridState) -> dict[str, np.ndarray]:
        """Position, phase, step in phase, last reward, visited map and found-treasure map."""
        n = len(state.position)
        treasure_map = np.zeros((n, self.size, self.size), dtype=np.int8)
        treasure_map[np.arange(n), state.treasure[:, 0], state.treasure[:, 1]] = state.found
        return {
            "position": state.position.copy(),
            "phase": np.minimum(state.phase, self.n_phases - 1),
            "step": np.minimum(state.step, self.horizon - 1),
            "last_reward": state.last_reward.astype(np.float32)[:, None],
            "visited": state.visited.astype(np.int8),
            "treasure": treasure_map,
        }

    def instances(self, state: GridState) -> np.ndarray:
        """The treasure cells, (n, 2)."""
        return state.treasure
