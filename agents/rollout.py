"""The batched rollout engine: a population of transformers plays the grid world in lockstep.

A generation of an evolution strategy is P candidate parameter vectors, each played on I
treasure cells under M policy seeds: P x I x M episodes. The engine steps all of them at
once: the grid world with its batched numpy core, the transformers with `torch.func.vmap`
over the stacked candidates (no Python loop over members, cells or seeds), decoded
incrementally (a KV cache for softmax attention, the recurrent state for linear attention)
so that a step costs O(context). The loop ends as soon as every episode has ended.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from agents.tasks.grid import GridTokenizer
from agents.transformer import SeededTransformer, functional_method_call, unflatten_parameters
from randgym.envs.grid_explore.core import GridDynamics


@dataclass(frozen=True)
class Rollouts:
    """What a batch of P x I x M episodes did."""

    returns: Tensor  # (P, I, M) float64: the episode returns
    positions: np.ndarray | None  # (T, P, I, M, 2): agent cell after each step, if recorded
    phases: np.ndarray | None  # (T, P, I, M): phase before each step (n_phases once done)


class GridRolloutEngine:
    """Plays stacked candidates of one transformer architecture on GridExplore in lockstep.

    Args:
        model: The architecture (its own weights are ignored; candidates bring theirs).
        dynamics: The grid world's rules (size, horizon, phases, rewards).
        tokenizer: How observations become tokens; `tokenizer.dim` must equal the model's
            `input_dim`.
    """

    def __init__(
        self, model: SeededTransformer, dynamics: GridDynamics, tokenizer: GridTokenizer
    ) -> None:
        if model.config.input_dim != tokenizer.dim or model.config.output_dim != 4:
            raise ValueError(
                f"model input_dim={model.config.input_dim}, output_dim={model.config.output_dim} "
                f"cannot play this grid world; expected input_dim={tokenizer.dim}, output_dim=4"
            )
        n_steps = dynamics.horizon * dynamics.n_phases
        if model.config.max_len < n_steps:
            raise ValueError(f"model max_len={model.config.max_len} < {n_steps} steps per episode")
        self.model, self.dynamics, self.tokenizer = model, dynamics, tokenizer
        self._init = torch.vmap(self._init_one, in_dims=(0, None, None))
        self._step = torch.vmap(self._step_one)

    def _init_one(self, params: dict[str, Tensor], n_cells: int, policy_seeds: Tensor):
        return functional_method_call(self.model, params, "init_cache", ((n_cells,), policy_seeds))

    def _step_one(self, params: dict[str, Tensor], tokens: Tensor, cache):
        return functional_method_call(self.model, params, "step", (tokens, cache))

    @torch.inference_mode()
    def play(
        self, params: Tensor, treasures: np.ndarray, policy_seeds: Tensor, record: bool = False
    ) -> Rollouts:
        """Plays every candidate on every treasure cell under every policy seed.

        Args:
            params: Candidate parameter vectors (P, D) (see `flatten_parameters`).
            treasures: Treasure cells (I, 2), the same for every candidate.
            policy_seeds: M policy seeds, the same for every candidate and cell (common
                random numbers), shaped as by `model.sample_policy_seed`.
            record: Also return the agents' positions and phases at every step.

        Returns:
            The returns (P, I, M) and, if recorded, the trajectories.
        """
        n_members, n_cells, n_seeds = params.shape[0], len(treasures), policy_seeds.shape[0]
        weights = unflatten_parameters(self.model, params.to(self.model.head.weight.dtype))
        cache = self._init(weights, n_cells, policy_seeds.to(self.model.head.weight.dtype))
        cells = np.repeat(np.asarray(treasures, dtype=np.int64), n_seeds, axis=0)  # (I*M, 2)
        state = self.dynamics.reset(np.tile(cells, (n_members, 1)))  # (P*I*M, ...)
        returns = np.zeros(len(cells) * n_members)
        positions, phases = [], []
        shape = (n_members, n_cells, n_seeds)
        while not state.done.all():
            tokens = self.tokenizer(self.dynamics.observe(state), params.dtype)
            logits, cache = self._step(weights, tokens.view(*shape, -1), cache)  # (P, I, M, 4)
            actions = logits.argmax(dim=-1).reshape(-1).numpy()  # (P*I*M,)
            if record:
                phases.append(state.phase.reshape(shape))
            result = self.dynamics.step(state, actions)
            state = result.state
            returns += result.reward
            if record:
                positions.append(result.info["cell"].reshape(*shape, 2))
        return Rollouts(
            returns=torch.from_numpy(returns.reshape(shape)),
            positions=np.stack(positions) if record else None,
            phases=np.stack(phases) if record else None,
        )
