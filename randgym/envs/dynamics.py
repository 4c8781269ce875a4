"""The contract of a task's batched core: pure functions on batches of arrays."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import numpy as np


class StepResult(NamedTuple):
    """What one batched step returns; finished entries get reward 0 and keep their state."""

    state: Any
    reward: np.ndarray  # (n,) float64
    terminated: np.ndarray  # (n,) bool
    info: dict[str, np.ndarray]  # each (n, ...)


class Dynamics(Protocol):
    """Batched dynamics of a task; every method is pure (inputs are never modified)."""

    def reset(self, instances: Any) -> Any:
        """The initial state of a batch of episodes on the given instance batch."""

    def step(self, state: Any, actions: np.ndarray) -> StepResult:
        """Advances every unfinished episode of the batch by one action."""

    def observe(self, state: Any) -> dict[str, np.ndarray]:
        """The batch of observations (fresh arrays, dtypes of the observation space)."""

    def instances(self, state: Any) -> Any:
        """The batch of instances the episodes are playing."""
