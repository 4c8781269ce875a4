"""Where the fitness of an ES generation is computed: in process (default) or on a cluster.

An evaluator turns candidate parameter vectors into episode returns; the ES code sees only
this interface, so a distributed backend plugs in without touching it.
"""

from agents.evaluators.base import Evaluator
from agents.evaluators.local import LocalEvaluator

__all__ = ["Evaluator", "LocalEvaluator"]
