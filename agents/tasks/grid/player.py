"""How a transformer plays `GridExplore-v0`: one token per decision, an argmax over 4 moves.

A token is built from the env's (batched) observation: one-hot `x` and `y` of the agent, the
last reward, a one-hot phase, the one-hot `x` and `y` of the treasure once it has been found
(zeros before), and optionally the flattened `visited` map of the phase. The paper's tokens
are `[emb(x), emb(y), r]`; the phase and found-treasure features tell the model, without
inference over its own past actions, that a phase restarted and where the treasure was (the
env resets the agent to the start as soon as it steps on the treasure).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from randgym.envs.grid_explore.core import MOVES, GridState
from randgym.envs.grid_explore.env import GridExploreEnv


class GridPlayer:
    """Plays the grid world incrementally (a `Player` of `agents.evolution.engine`).

    Args:
        env: The (unwrapped) grid env; its rules set the token and episode sizes.
        visited_map: Append the phase's visited map (size * size features) to each token.
    """

    one_shot = False

    def __init__(self, env: GridExploreEnv, visited_map: bool = True) -> None:
        if not isinstance(visited_map, bool):
            raise ValueError(f"visited_map={visited_map!r} is invalid; expected True or False")
        rules = env.dynamics
        self.size, self.n_phases, self.horizon = rules.size, rules.n_phases, rules.horizon
        self.visited_map = visited_map
        # no episode returns more: 0 with the default rewards (-1 per step)
        best_step = max(rules.step_reward, rules.find_reward, 0.0)
        self.max_return = best_step * rules.horizon * rules.n_phases

    @property
    def input_dim(self) -> int:
        """Features per token."""
        return 4 * self.size + 1 + self.n_phases + self.visited_map * self.size**2

    @property
    def output_dim(self) -> int:
        """One logit per move."""
        return len(MOVES)

    @property
    def length(self) -> int:
        """The most decisions (tokens) of an episode."""
        return self.horizon * self.n_phases

    def tokens(self, obs: dict[str, np.ndarray], dtype: torch.dtype = torch.float32) -> Tensor:
        """Tokens (n, input_dim) of a batch of observations (as `GridDynamics.observe` gives).

        Every one-hot feature is written by one scatter of ones into the flat token array.
        """
        n, size, dim = len(obs["position"]), self.size, self.input_dim
        offset = 2 * size + 1 + self.n_phases  # the found treasure's x, then y
        start = np.arange(n) * dim  # each token's first element in the flat array
        found = np.flatnonzero(obs["treasure"].reshape(-1) != 0)  # row * size**2 + cell
        row, cell = np.divmod(found, size * size)  # cell: flat index x * size + y
        ones = (
            start + obs["position"][:, 0],
            start + size + obs["position"][:, 1],
            start + 2 * size + 1 + obs["phase"],
            row * dim + offset + cell // size,
            row * dim + offset + size + cell % size,
        )
        tokens = np.zeros((n, dim), dtype=np.float32)
        tokens.reshape(-1)[np.concatenate(ones)] = 1.0
        tokens[:, 2 * size] = obs["last_reward"][:, 0]
        if self.visited_map:
            tokens[:, offset + 2 * size :] = obs["visited"].reshape(n, -1)
        return torch.from_numpy(tokens).to(dtype)

    def mask(self, obs: dict[str, np.ndarray]) -> None:
        """No attention mask beyond the model's causal one."""
        del obs

    def actions(self, logits: Tensor) -> np.ndarray:
        """The argmax move (...) of logits (..., 4)."""
        return logits.argmax(dim=-1).numpy()

    def trace(
        self, before: GridState, after: GridState, rows: np.ndarray, info: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Every episode's phase before the step and the cell it entered (finished: its last)."""
        positions = after.position.copy()  # a finished episode ended on the cell it entered
        positions[rows] = info["cell"]  # the cell entered, before a restart to the start
        return {"positions": positions, "phases": before.phase.copy()}


class GridTransformerPolicy:
    """Plays one `GridExplore-v0` episode at a time with a transformer and one policy seed.

    It decodes incrementally, one token per observation, and picks the argmax action (no
    sampling: the only randomness is the policy seed). Call `reset` at every episode start.

    Args:
        model: The transformer (its own parameters are used).
        player: The player the model was trained with.
        policy_seed: One policy seed, shaped as one row of `model.sample_policy_seed(1, g)`.
    """

    def __init__(self, model, player: GridPlayer, policy_seed: torch.Tensor) -> None:
        self.model, self.player = model, player
        self.policy_seed = policy_seed.reshape(1, *policy_seed.shape[-1:])  # (S=1, seed_dim)
        self.reset()

    def reset(self) -> None:
        """Forgets the previous episode."""
        self.cache = self.model.init_cache(1, self.policy_seed)

    @torch.inference_mode()
    def __call__(self, obs: dict[str, np.ndarray]) -> int:
        """The action for one (unbatched) observation."""
        batch = {key: np.asarray(value)[None] for key, value in obs.items()}
        token = self.player.tokens(batch, self.model.head.weight.dtype)  # (1, dim)
        logits, self.cache = self.model.step(token[:, None], self.cache)  # (1, S=1, 4)
        return int(self.player.actions(logits[0, 0]))
