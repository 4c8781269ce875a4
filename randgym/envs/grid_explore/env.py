"""`RandAlg/GridExplore-v0`: find a hidden treasure in a grid, then go back to it."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from randgym.envs.grid_explore.core import GridDynamics, GridState
from randgym.envs.grid_explore.generator import TreasureGenerator
from randgym.envs.limits import GRID_MAX_HORIZON, GRID_MAX_PHASES, GRID_MAX_SIZE
from randgym.envs.rendering import upscale
from randgym.envs.task_env import TaskEnv
from randgym.envs.validation import check_float, check_int


class GridExploreEnv(TaskEnv):
    """Grid-world exploration against an adversarially hidden treasure (paper section 3.4).

    ## Description
    A `size` x `size` grid hides a treasure on some cell other than the start (0, 0), the
    lower-left corner. The episode has `n_phases` phases of at most `horizon` steps: in the
    first the agent explores; a phase ends when it steps onto the treasure or runs out of
    steps, and the next phase puts it back on the start with the same treasure, so a policy
    with memory can walk straight to it. A deterministic sweep can be beaten by an adversary
    that hides the treasure where the sweep arrives last; a randomized one cannot.

    ## Action Space
    `Discrete(4)`: 0 left, 1 up, 2 right, 3 down. A move into a wall leaves the agent in place
    and still costs a step.

    ## Observation Space
    A `Dict` with `position` (`MultiDiscrete([size, size])`, the agent's `(x, y)`), `phase`
    (`Discrete(n_phases)`), `step` (`Discrete(horizon)`, steps taken in this phase),
    `last_reward` (`Box`, shape (1,)), `visited` (`MultiBinary((size, size))`, the cells seen
    in this phase, indexed `[x, y]`) and `treasure` (`MultiBinary((size, size))`, the treasure
    cell once it has been found, else zeros). `visited` and `treasure` let memoryless
    policies (SB3's `MultiInputPolicy`) explore and exploit too.

    ## Rewards
    `step_reward` for every step and `find_reward` for the step that finds the treasure. The
    default (-1, -1) makes the return minus the number of steps over all phases, the scale of
    the paper's figures (minimum -50); `step_reward=-0.1, find_reward=1.0` is its text's scale.

    `info["found"]` says whether this step found the treasure and `info["cell"]` is the cell
    the move ended on (before a phase restart puts the agent back on the start).

    ## Starting State
    The agent on (0, 0); the treasure from `options["instance"]` (a cell `(x, y)`) or uniform
    over the `size * size - 1` other cells.

    ## Episode End
    Terminates after the last phase; it is never truncated.

    ## Arguments
    `size=5` (2 to 64), `horizon=25` (steps per phase, 1 to 10,000), `n_phases=2` (1 to
    100), `step_reward=-1.0`, `find_reward=-1.0` (finite), `render_mode` (`"ansi"` or
    `"rgb_array"`). A value outside its range raises ValueError before anything is allocated.
    `gym.make_vec` also takes `num_envs`: 1 to 1,000,000, with at most 256 MiB of observations
    in the batch.

    ## Version History
    - v0: initial version.
    """

    def __init__(
        self,
        size: int = 5,
        horizon: int = 25,
        n_phases: int = 2,
        step_reward: float = -1.0,
        find_reward: float = -1.0,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(render_mode)
        self.dynamics = GridDynamics(
            size=check_int("size", size, 2, GRID_MAX_SIZE),
            horizon=check_int("horizon", horizon, 1, GRID_MAX_HORIZON),
            n_phases=check_int("n_phases", n_phases, 1, GRID_MAX_PHASES),
            step_reward=check_float("step_reward", step_reward),
            find_reward=check_float("find_reward", find_reward),
        )
        self.generator = TreasureGenerator(size)
        low, high = min(step_reward, find_reward, 0.0), max(step_reward, find_reward, 0.0)
        self.observation_space = spaces.Dict(
            {
                "position": spaces.MultiDiscrete([size, size]),
                "phase": spaces.Discrete(n_phases),
                "step": spaces.Discrete(horizon),
                "last_reward": spaces.Box(low, high, shape=(1,), dtype=np.float32),
                "visited": spaces.MultiBinary((size, size)),
                "treasure": spaces.MultiBinary((size, size)),
            }
        )
        self.action_space = spaces.Discrete(4)

    def render_text(self, state: GridState, index: int) -> str:
        """Rows from top (y = size - 1) to bottom: A agent, T treasure, * visited, . unseen."""
        size, dyn = self.dynamics.size, self.dynamics
        x, y = state.position[index]
        tx, ty = state.treasure[index]
        rows = []
        for row in reversed(range(size)):
            cells = ["*" if state.visited[index, col, row] else "." for col in range(size)]
            cells[tx] = "T" if row == ty else cells[tx]
            cells[x] = "A" if row == y else cells[x]
            rows.append("|" + "".join(cells) + "|")
        border = "+" + "-" * size + "+"
        phase = min(int(state.phase[index]), dyn.n_phases - 1) + 1
        status = "done" if state.done[index] else f"step {int(state.step[index])}/{dyn.horizon}"
        footer = f"phase {phase}/{dyn.n_phases} {status} last reward {state.last_reward[index]:g}"
        return "\n".join([border, *rows, border, footer]) + "\n"

    def render_rgb(self, state: GridState, index: int) -> np.ndarray:
        """White cells, visited light blue, treasure gold, agent red; north is up."""
        colors = np.full((self.dynamics.size,) * 2 + (3,), 255, dtype=np.uint8)
        colors[state.visited[index]] = (170, 205, 240)
        colors[tuple(state.treasure[index])] = (240, 190, 40)
        colors[tuple(state.position[index])] = (220, 50, 50)
        return upscale(np.flip(colors.transpose(1, 0, 2), axis=0))
