"""The grid-world exploration task."""

from randgym.envs.grid_explore.env import GridExploreEnv
from randgym.envs.grid_explore.generator import TreasureGenerator
from randgym.envs.grid_explore.vector import GridExploreVectorEnv

__all__ = ["GridExploreEnv", "GridExploreVectorEnv", "TreasureGenerator"]
