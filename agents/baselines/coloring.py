"""A one-round coloring: compare a key with the two neighbours' keys."""

from __future__ import annotations

import numpy as np


class LocalExtremes:
    """A vertex below both neighbours' keys takes color 0, above both 1, else 2.

    It is proper unless three keys rise (or fall) along the cycle. With
    ``policy_seed=None`` the keys are the vertex ids (deterministic: the adversary picks a
    labelling with a monotone run); otherwise random keys drawn from the seed.
    """

    def __init__(self, n_vertices: int, policy_seed: int | None = None) -> None:
        if policy_seed is None:
            self.keys = np.arange(float(n_vertices))
        else:
            self.keys = np.random.default_rng(policy_seed).random(n_vertices)

    def __call__(self, obs: dict) -> np.ndarray:
        """The colors for a GraphColoring observation."""
        neighbours = np.where(obs["adjacency"] == 1, self.keys[None, :], np.nan)
        colors = np.full(len(self.keys), 2)
        colors[self.keys < np.nanmin(neighbours, axis=1)] = 0
        colors[self.keys > np.nanmax(neighbours, axis=1)] = 1
        return colors
