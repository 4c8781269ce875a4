"""The evaluator interface."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from torch import Tensor


class Evaluator(Protocol):
    """Plays candidates on instances under policy seeds and returns the episode returns."""

    def returns(self, candidates: Tensor, instances: np.ndarray, policy_seeds: Tensor) -> Tensor:
        """Returns (P, I, M) of P candidates (P, D) on I instances under M policy seeds."""

    def close(self) -> None:
        """Releases the evaluator's resources (workers, memory)."""
