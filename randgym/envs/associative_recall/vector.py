"""The native vector env of `RandAlg/AssociativeRecall-v0`."""

from __future__ import annotations

from randgym.envs.associative_recall.env import AssociativeRecallEnv
from randgym.envs.task_vector import TaskVectorEnv


class AssociativeRecallVectorEnv(TaskVectorEnv):
    """`num_envs` recall episodes answered together as array operations.

    Same arguments as `AssociativeRecallEnv` plus `num_envs` (1 to 1,000,000 and a 256 MiB batch of
    observations at most) and `autoreset_mode` (`"NextStep"`, the default, or `"SameStep"`).
    """

    env_class = AssociativeRecallEnv
