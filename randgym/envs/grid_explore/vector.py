"""The native vector env of `RandAlg/GridExplore-v0`."""

from __future__ import annotations

from randgym.envs.grid_explore.env import GridExploreEnv
from randgym.envs.task_vector import TaskVectorEnv


class GridExploreVectorEnv(TaskVectorEnv):
    """`num_envs` grid worlds stepped together as array operations.

    Same arguments as `GridExploreEnv` plus `num_envs` (1 to 1,000,000 and a 256 MiB batch of
    observations at most) and `autoreset_mode` (`"NextStep"`, the default, or `"SameStep"`).
    """

    env_class = GridExploreEnv
