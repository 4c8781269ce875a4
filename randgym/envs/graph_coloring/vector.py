"""The native vector env of `RandAlg/GraphColoring-v0`."""

from __future__ import annotations

from randgym.envs.graph_coloring.env import GraphColoringEnv
from randgym.envs.task_vector import TaskVectorEnv


class GraphColoringVectorEnv(TaskVectorEnv):
    """`num_envs` graph colorings stepped together as array operations.

    Same arguments as `GraphColoringEnv` plus `num_envs` (1 to 1,000,000 and a 256 MiB batch of
    observations at most) and `autoreset_mode` (`"NextStep"`, the default, or `"SameStep"`).
    """

    env_class = GraphColoringEnv
