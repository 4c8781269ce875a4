"""Evolution strategies with one ask/tell interface; fitness is maximized.

``PEPG`` (the paper's grid-world optimizer), ``OpenES`` and ``CMAES`` (a pycma adapter) share
the base class ``EvolutionStrategy``: ``ask() -> (popsize, dim)``, ``tell(fitness)``,
``center``, ``metrics``, ``state_dict`` / ``load_state_dict``.
"""

from agents.evolution.es.base import Adam, AdamState, EvolutionStrategy, centered_ranks
from agents.evolution.es.cma_es import CMAES, CMAESConfig
from agents.evolution.es.open_es import OpenES, OpenESConfig
from agents.evolution.es.pepg import PEPG, PEPGConfig

__all__ = [
    "CMAES",
    "PEPG",
    "Adam",
    "AdamState",
    "CMAESConfig",
    "EvolutionStrategy",
    "OpenES",
    "OpenESConfig",
    "PEPGConfig",
    "centered_ranks",
]
