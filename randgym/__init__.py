"""randgym: Gymnasium environments for learning randomized algorithms with transformers.

Importing the package registers the environments under the `RandAlg` namespace:

    >>> import gymnasium as gym
    >>> import randgym
    >>> env = gym.make("RandAlg/GridExplore-v0")
"""

from gymnasium.envs.registration import register, registry

__version__ = "0.1.0"

ENV_IDS = (
    "RandAlg/GridExplore-v0",
    "RandAlg/AssociativeRecall-v1",
    "RandAlg/GraphColoring-v0",
)
# Outdated versions stay registered; `gym.make` warns (DeprecationWarning) that they are outdated.
DEPRECATED_ENV_IDS = ("RandAlg/AssociativeRecall-v0",)


def _register(env_id: str, module: str, env_class: str, vector_class: str) -> None:
    if env_id not in registry:
        register(
            id=env_id,
            entry_point=f"randgym.envs.{module}.env:{env_class}",
            vector_entry_point=f"randgym.envs.{module}.vector:{vector_class}",
        )


_register("RandAlg/GridExplore-v0", "grid_explore", "GridExploreEnv", "GridExploreVectorEnv")
_register(
    "RandAlg/AssociativeRecall-v0",
    "associative_recall",
    "AssociativeRecallEnvV0",
    "AssociativeRecallVectorEnvV0",
)
_register(
    "RandAlg/AssociativeRecall-v1",
    "associative_recall",
    "AssociativeRecallEnv",
    "AssociativeRecallVectorEnv",
)
_register(
    "RandAlg/GraphColoring-v0", "graph_coloring", "GraphColoringEnv", "GraphColoringVectorEnv"
)
