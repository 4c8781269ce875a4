"""In-process evaluation with the batched rollout engine."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from agents.rollout import GridRolloutEngine


class LocalEvaluator:
    """Evaluates a generation in this process, in chunks of candidates to bound memory.

    Args:
        engine: The rollout engine.
        chunk_size: Most candidates played at once (all of them when None).
    """

    def __init__(self, engine: GridRolloutEngine, chunk_size: int | None = None) -> None:
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size={chunk_size!r} must be a positive integer or None")
        self.engine, self.chunk_size = engine, chunk_size

    def returns(self, candidates: Tensor, instances: np.ndarray, policy_seeds: Tensor) -> Tensor:
        """Returns (P, I, M) of candidates (P, D) on instances (I, ...) under M policy seeds."""
        size = self.chunk_size or len(candidates)
        chunks = candidates.split(size)
        return torch.cat([self.engine.play(c, instances, policy_seeds).returns for c in chunks])

    def close(self) -> None:
        """Nothing to release in process."""
