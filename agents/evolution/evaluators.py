"""Where the fitness of an ES generation is computed: in process (default) or on a cluster.

An evaluator turns candidate parameter vectors into episode returns; the ES code sees only
this interface, so a distributed backend plugs in without touching it.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import Tensor

from agents.evolution.engine import RolloutEngine


class Evaluator(Protocol):
    """Plays candidates on instances under policy seeds and returns the episode returns."""

    def returns(self, candidates: Tensor, instances: Any, policy_seeds: Tensor) -> Tensor:
        """Returns (P, I, M) of P candidates (P, D) on I instances under M policy seeds."""

    def close(self) -> None:
        """Releases the evaluator's resources (workers, memory)."""


class LocalEvaluator:
    """Evaluates a generation in this process, in chunks of candidates to bound memory.

    Args:
        engine: The rollout engine.
        chunk_size: Most candidates played at once (all of them when None).
    """

    def __init__(self, engine: RolloutEngine, chunk_size: int | None = None) -> None:
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size={chunk_size!r} must be a positive integer or None")
        self.engine, self.chunk_size = engine, chunk_size

    def returns(self, candidates: Tensor, instances: Any, policy_seeds: Tensor) -> Tensor:
        """Returns (P, I, M) of candidates (P, D) on instances (I, ...) under M policy seeds."""
        size = self.chunk_size or len(candidates)
        chunks = candidates.split(size)
        return torch.cat([self.engine.play(c, instances, policy_seeds).returns for c in chunks])

    def close(self) -> None:
        """Nothing to release in process."""
