"""Hand-written recall policies with a memory of ``memory`` values (fewer than N).

A policy stores ``M = memory`` of the N values and answers the queried value if it stored it,
else all zeros (right only when the queried value is all zeros). On an instance whose queried
value is not all zeros, the chance of a right answer is exactly:

- *store the first M* (deterministic): 1 if the query is among the first M keys, else 0; so
  its worst case is 0 whenever M < N;
- *store a random M-subset* (randomized, uniform over the subsets): ``M / N`` for every query,
  which is also its worst case.

Over uniform instances both average ``M / N + (1 - M / N) / 2**d``.
"""

from __future__ import annotations

import numpy as np

from randgym.envs.validation import check_int


class StoreSubset:
    """Remembers ``memory`` of the N values and answers zeros for the others.

    With ``policy_seed=None`` it stores the first ``memory`` keys (deterministic: the
    adversary queries another one); otherwise a uniform subset drawn from the seed
    (randomized). One object plays one episode: each call draws again from its seed's stream.

    Args:
        memory: M, the number of values stored, >= 1 (at most N, checked on the first call).
        policy_seed: The seed of the subset, or None for the first M keys.
    """

    def __init__(self, memory: int, policy_seed: int | None = None) -> None:
        self.memory = check_int("memory", memory, 1)
        self.rng = np.random.default_rng(policy_seed)
        self.random = policy_seed is not None

    def stored_keys(self, n_pairs: int) -> np.ndarray:
        """The indices of the keys whose values are stored, (M,) sorted."""
        if self.memory > n_pairs:
            raise ValueError(f"memory={self.memory} is larger than the {n_pairs} pairs")
        if self.random:
            return np.sort(self.rng.choice(n_pairs, self.memory, replace=False))
        return np.arange(self.memory)

    def __call__(self, obs: dict) -> np.ndarray:
        """The recalled bits for an AssociativeRecall observation."""
        stored = self.stored_keys(len(obs["query"]))
        query = int(np.argmax(obs["query"]))
        value = obs["pair_values"][query]
        return value if query in stored else np.zeros_like(value)


def success_rates(n_pairs: int, value_bits: int, memory: int) -> dict[str, float]:
    """The closed-form success rates of both policies, on average and in the worst case.

    Returns:
        ``{"average": ..., "first_worst": 0.0 (1.0 if M = N), "random_worst": M / N}``.
    """
    stored = memory / n_pairs
    return {
        "average": stored + (1 - stored) / 2**value_bits,
        "first_worst": 1.0 if memory >= n_pairs else 0.0,
        "random_worst": stored,
    }
