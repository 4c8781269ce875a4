"""The native vector envs of `RandAlg/AssociativeRecall-v1` (and of the deprecated v0)."""

from __future__ import annotations

from randgym.envs.associative_recall.env import AssociativeRecallEnv, AssociativeRecallEnvV0
from randgym.envs.task_vector import TaskVectorEnv


class AssociativeRecallVectorEnv(TaskVectorEnv):
    """`num_envs` recall episodes answered together as array operations.

    Same arguments as `AssociativeRecallEnv` plus `num_envs` (1 to 1,000,000 and a 256 MiB batch of
    observations at most) and `autoreset_mode` (`"NextStep"`, the default, or `"SameStep"`).
    """

    env_class = AssociativeRecallEnv


class AssociativeRecallVectorEnvV0(AssociativeRecallVectorEnv):
    """The native vector env of the deprecated `RandAlg/AssociativeRecall-v0`."""

    env_class = AssociativeRecallEnvV0
