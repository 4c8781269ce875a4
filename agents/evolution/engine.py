"""The batched rollout engine: a population of transformers plays the grid world in lockstep.

A generation of an evolution strategy is P candidate parameter vectors, each played on I
treasure cells under M policy seeds: P x I x M episodes. The engine steps all of them at
once: the grid world with its batched numpy core, the transformers with `torch.func.vmap`
over the stacked candidates (no Python loop over members, cells or seeds), decoded
incrementally (a KV cache for softmax attention, the recurrent state for linear attention)
so that a step costs O(context).

Finished episodes stop costing compute: each member's episodes sit in W "slots"; when every
member has at most `compact_below` x W unfinished episodes, the slots are compacted (the
decoding caches gathered) to the largest number still running, so a generation costs about
the steps actually played, not P x I x M x the longest episode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from agents.models.population import functional_method_call, unflatten_parameters
from agents.models.transformer import DecodeCache, SeededTransformer
from agents.tasks.grid.tokenizer import GridTokenizer
from randgym.envs.grid_explore.core import GridDynamics, GridState

SEED_MODES = ("prefix_normal", "none")  # the seed enters before the first step, if at all


@dataclass(frozen=True)
class Rollouts:
    """What a batch of P x I x M episodes did."""

    returns: Tensor  # (P, I, M) float64: the episode returns
    positions: np.ndarray | None  # (T, P, I, M, 2): cell entered at each step, if recorded
    phases: np.ndarray | None  # (T, P, I, M): phase before each step (n_phases once done)


class RolloutEngine:
    """Plays stacked candidates of one transformer architecture on GridExplore in lockstep.

    Args:
        model: The architecture (its own weights are ignored; candidates bring theirs).
        dynamics: The grid world's rules (size, horizon, phases, rewards).
        tokenizer: How observations become tokens; `tokenizer.dim` must equal the model's
            `input_dim`.
        compact_below: Compact the slots when every member runs at most this share of them.
    """

    def __init__(
        self,
        model: SeededTransformer,
        dynamics: GridDynamics,
        tokenizer: GridTokenizer,
        compact_below: float = 0.75,
    ) -> None:
        config = model.config
        if config.input_dim != tokenizer.dim or config.output_dim != 4:
            raise ValueError(
                f"model input_dim={config.input_dim}, output_dim={config.output_dim} cannot "
                f"play this grid world; expected input_dim={tokenizer.dim}, output_dim=4"
            )
        n_steps = dynamics.horizon * dynamics.n_phases
        if config.max_len < n_steps:
            raise ValueError(f"model max_len={config.max_len} < {n_steps} steps per episode")
        if config.seed_mode not in SEED_MODES:
            raise ValueError(
                f"seed_mode={config.seed_mode!r}: the engine needs one of {SEED_MODES}"
            )
        self.model, self.dynamics, self.tokenizer = model, dynamics, tokenizer
        self.compact_below = compact_below
        self._init = torch.vmap(self._init_one, in_dims=(0, None, None))
        self._step = torch.vmap(self._step_one)

    def _init_one(self, params: dict[str, Tensor], n_cells: int, policy_seeds: Tensor):
        return functional_method_call(self.model, params, "init_cache", ((n_cells,), policy_seeds))

    def _step_one(self, params: dict[str, Tensor], tokens: Tensor, cache: DecodeCache):
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
            record: Also return the agents' cells and phases at every step.

        Returns:
            The returns (P, I, M) and, if recorded, the trajectories.
        """
        n_members, n_cells, n_seeds = params.shape[0], len(treasures), policy_seeds.shape[0]
        dtype = self.model.head.weight.dtype
        weights = unflatten_parameters(self.model, params.to(dtype))
        cache = _one_seed_per_slot(self._init(weights, n_cells, policy_seeds.to(dtype)))
        cells = np.repeat(np.asarray(treasures, dtype=np.int64), n_seeds, axis=0)  # (I*M, 2)
        state = self.dynamics.reset(np.tile(cells, (n_members, 1)))  # (P*I*M, ...)
        n_slots = len(cells)
        slots = np.tile(np.arange(n_slots), (n_members, 1))  # (P, W): episode of each slot
        offsets = np.arange(n_members)[:, None] * n_slots  # (P, 1): first episode of a member
        returns = np.zeros(len(state.done))
        trace = _Trace(state) if record else None
        while True:
            rows = (offsets + slots).reshape(-1)  # (P*W,) episodes in the slots
            active = ~state.done[rows]
            if not active.any():
                break
            need = active.reshape(slots.shape).sum(axis=1).max()
            if need <= self.compact_below * slots.shape[1]:
                order = np.argsort(~active.reshape(slots.shape), axis=1, kind="stable")[:, :need]
                slots = np.take_along_axis(slots, order, axis=1)
                cache = _gather_slots(cache, torch.from_numpy(order))
                rows = (offsets + slots).reshape(-1)
            playing = _index(state, rows)
            tokens = self.tokenizer(self.dynamics.observe(playing), dtype)  # (P*W, dim)
            logits, cache = self._step(weights, tokens.view(*slots.shape, 1, -1), cache)
            actions = logits.argmax(dim=-1).reshape(-1).numpy()  # (P*W,)
            result = self.dynamics.step(playing, actions)
            if trace is not None:
                trace.record(state, rows, result)
            state = _assign(state, rows, result.state)
            returns[rows] += result.reward  # finished (possibly repeated) slots add 0
        shape = (n_members, n_cells, n_seeds)
        return Rollouts(
            returns=torch.from_numpy(returns.reshape(shape)),
            positions=None if trace is None else trace.positions(shape),
            phases=None if trace is None else trace.phases(shape),
        )


class _Trace:
    """Records every episode's phase before each step and the cell it entered."""

    def __init__(self, state: GridState) -> None:
        self._cells, self._phases = [], []
        self._last_cell = state.position.copy()

    def record(self, state: GridState, rows: np.ndarray, result) -> None:
        self._phases.append(state.phase.copy())
        self._last_cell = self._last_cell.copy()
        self._last_cell[rows] = result.info["cell"]
        self._cells.append(self._last_cell)

    def positions(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.stack(self._cells).reshape(-1, *shape, 2)

    def phases(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.stack(self._phases).reshape(-1, *shape)


def _one_seed_per_slot(cache: DecodeCache) -> DecodeCache:
    """Folds the (I, M) sequences of each member into slots (I*M, S=1).

    With the seed consumed before the first step (SEED_MODES), a sequence no longer needs
    its seed, only its decoding state, so sequences can be reordered freely.
    """
    layers = tuple(
        tuple(t.flatten(1, 2).unsqueeze(2) for t in layer)  # (P, I, M, ...) -> (P, I*M, 1, ...)
        for layer in cache.layers
    )
    return DecodeCache(cache.policy_seed[:, :1], layers, cache.position)  # (P, S=1, ...)


def _gather_slots(cache: DecodeCache, order: Tensor) -> DecodeCache:
    """Keeps slots `order` (P, W') of every member's decoding state (P, W, ...)."""

    def gather(t: Tensor) -> Tensor:
        index = order.view(*order.shape, *[1] * (t.dim() - 2))  # (P, W', 1, ...)
        return torch.take_along_dim(t, index, dim=1)

    layers = tuple(tuple(gather(t) for t in layer) for layer in cache.layers)
    return DecodeCache(cache.policy_seed, layers, cache.position)


def _index(state: GridState, rows: np.ndarray) -> GridState:
    return GridState(*(field[rows] for field in state))


def _assign(state: GridState, rows: np.ndarray, values: GridState) -> GridState:
    """A copy of `state` with `rows` replaced (repeated rows are finished: equal values)."""
    fields = []
    for field, value in zip(state, values, strict=True):
        field = field.copy()
        field[rows] = value
        fields.append(field)
    return GridState(*fields)
