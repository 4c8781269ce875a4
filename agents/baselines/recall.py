"""Hand-written recall policies with a memory of ``memory`` values (fewer than N)."""

from __future__ import annotations

import numpy as np


class StoreSubset:
    """Remembers ``memory`` of the N values and answers zeros for the others.

    With ``policy_seed=None`` it stores the first ``memory`` keys (deterministic: the
    adversary queries another one); otherwise a subset chosen by the seed (randomized).
    """

    def __init__(self, memory: int, policy_seed: int | None = None) -> None:
        self.memory, self.rng = memory, np.random.default_rng(policy_seed)
        self.random = policy_seed is not None

    def __call__(self, obs: dict) -> np.ndarray:
        """The recalled bits for an AssociativeRecall observation."""
        n_pairs = len(obs["query"])
        if self.random:
            stored = self.rng.choice(n_pairs, self.memory, replace=False)
        else:
            stored = np.arange(self.memory)
        query = int(np.argmax(obs["query"]))
        value = obs["pair_values"][query]
        return value if query in stored else np.zeros_like(value)
