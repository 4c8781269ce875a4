"""Tokens of the grid world: what the transformer reads at each step of `GridExplore-v0`.

One token per decision, built from the env's (batched) observation: one-hot `x` and `y` of
the agent, the last reward, a one-hot phase, the one-hot `x` and `y` of the treasure once it
has been found (zeros before), and optionally the flattened `visited` map of the phase. The
paper's tokens are `[emb(x), emb(y), r]`; the phase and found-treasure features tell the
model, without inference over its own past actions, that a phase restarted and where the
treasure was (the env resets the agent to the start as soon as it steps on the treasure).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class GridTokenizer:
    """Turns batched GridExplore observations into float tokens (n, dim)."""

    size: int = 5
    n_phases: int = 2
    visited_map: bool = False  # append the phase's visited map (size * size features)

    @property
    def dim(self) -> int:
        """Features per token."""
        return 4 * self.size + 1 + self.n_phases + self.visited_map * self.size**2

    def __call__(self, obs: dict[str, np.ndarray], dtype: torch.dtype = torch.float32):
        """Tokens (n, dim) of a batch of observations (as `GridDynamics.observe` gives them)."""
        n, size = len(obs["position"]), self.size
        rows = np.arange(n)
        tokens = np.zeros((n, self.dim), dtype=np.float32)
        tokens[rows, obs["position"][:, 0]] = 1.0
        tokens[rows, size + obs["position"][:, 1]] = 1.0
        tokens[:, 2 * size] = obs["last_reward"][:, 0]
        tokens[rows, 2 * size + 1 + obs["phase"]] = 1.0
        treasure = obs["treasure"].reshape(n, -1)  # (n, size * size), one 1 once found
        found = treasure.any(axis=1)
        cell = treasure.argmax(axis=1)  # flat index x * size + y
        offset = 2 * size + 1 + self.n_phases
        tokens[rows[found], offset + cell[found] // size] = 1.0
        tokens[rows[found], offset + size + cell[found] % size] = 1.0
        if self.visited_map:
            tokens[:, offset + 2 * size :] = obs["visited"].reshape(n, -1)
        return torch.from_numpy(tokens).to(dtype)


class GridTransformerPolicy:
    """Plays one `GridExplore-v0` episode at a time with a transformer and one policy seed.

    It decodes incrementally, one token per observation, and picks the argmax action (no
    sampling: the only randomness is the policy seed). Call `reset` at every episode start.

    Args:
        model: The transformer (its own parameters are used).
        tokenizer: The tokenizer the model was trained with.
        policy_seed: One policy seed, shaped as one row of `model.sample_policy_seed(1, g)`.
    """

    def __init__(self, model, tokenizer: GridTokenizer, policy_seed: torch.Tensor) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.policy_seed = policy_seed.reshape(1, *policy_seed.shape[-1:])  # (S=1, seed_dim)
        self.reset()

    def reset(self) -> None:
        """Forgets the previous episode."""
        self.cache = self.model.init_cache(1, self.policy_seed)

    @torch.inference_mode()
    def __call__(self, obs: dict[str, np.ndarray]) -> int:
        """The action for one (unbatched) observation."""
        batch = {key: np.asarray(value)[None] for key, value in obs.items()}
        token = self.tokenizer(batch, self.model.head.weight.dtype)  # (1, dim)
        logits, self.cache = self.model.step(token[:, None], self.cache)  # (1, S=1, 4)
        return int(logits[0, 0].argmax())
