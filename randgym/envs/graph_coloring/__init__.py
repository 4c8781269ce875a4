"""The graph-coloring task: color a graph (by default 3-color a random cycle) in one step."""

from randgym.envs.graph_coloring.core import ColoringDynamics, count_conflicts
from randgym.envs.graph_coloring.cycles import (
    adjacency_from_orders,
    cycle_orders,
    orders_of_sequences,
)
from randgym.envs.graph_coloring.env import GraphColoringEnv
from randgym.envs.graph_coloring.generator import (
    CycleGenerator,
    ErdosRenyiGenerator,
    make_generator,
)
from randgym.envs.graph_coloring.vector import GraphColoringVectorEnv

__all__ = [
    "ColoringDynamics",
    "CycleGenerator",
    "ErdosRenyiGenerator",
    "GraphColoringEnv",
    "GraphColoringVectorEnv",
    "adjacency_from_orders",
    "count_conflicts",
    "cycle_orders",
    "make_generator",
    "orders_of_sequences",
]
