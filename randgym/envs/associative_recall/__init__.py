"""The associative-recall task."""

from randgym.envs.associative_recall.env import AssociativeRecallEnv
from randgym.envs.associative_recall.generator import RecallGenerator
from randgym.envs.associative_recall.vector import AssociativeRecallVectorEnv

__all__ = ["AssociativeRecallEnv", "AssociativeRecallVectorEnv", "RecallGenerator"]
