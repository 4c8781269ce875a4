"""The batched rollout engine: a population of transformers plays any env's dynamics in lockstep.

A generation of an evolution strategy is P candidate parameter vectors, each played on I
instances under M policy seeds: P x I x M episodes. The engine plays all of them at once on
the env's batched numpy core (`randgym.envs.dynamics.Dynamics`), the transformers batched
over the stacked candidates (no Python loop over members, instances or seeds). A
`Player` says how a model plays the env: its tokens, mask and actions.

One-shot envs (recall, coloring) are one step: every candidate reads each instance's whole
token sequence under every seed in one forward pass (`torch.vmap` of the model's forward).
Sequential envs (the grid world) are decoded incrementally by a `PopulationDecoder` (batched
GEMMs over all candidates; a KV cache for softmax attention, the recurrent state for linear
attention) so that a step costs O(context); finished episodes stop costing compute: each
member's episodes sit in W "slots", and when every member has at most `compact_below` x W
unfinished episodes, the slots are compacted (the decoding caches gathered) to the largest
number still running, so a generation costs about the steps actually played. A
`MemoryProcessor`, which the fused decoder does not run, is decoded by a `VmapDecoder`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from agents.evolution.decoder import PopulationDecoder, VmapDecoder
from agents.models.memory import MemoryProcessor
from agents.models.population import functional_method_call, unflatten_parameters
from agents.models.transformer import SeededTransformer
from randgym.envs.batching import batch_assign, batch_copy, batch_index
from randgym.envs.dynamics import Dynamics

SEQUENTIAL_SEED_MODES = ("prefix_normal", "none")  # the seed enters before the first step
ONE_SHOT_ELEMENTS = 2**20  # most activation elements of one forward chunk of candidates: 4 MB
# in float32 stay in the CPU cache (1.9-2.6x faster than 2**24 on the recall and coloring
# presets: benchmarks/engine_blocks.py)


class Player(Protocol):
    """How a model plays one env's batched dynamics: tokens in, actions out.

    A one-shot player reads an instance's whole sequence (n, length, input_dim) and acts once;
    a sequential one reads one token (n, input_dim) per step and acts at every step.
    """

    one_shot: bool
    input_dim: int  # features per token
    output_dim: int  # logits per position
    length: int  # tokens of a sequence (one-shot) or most steps of an episode (sequential)
    max_return: float  # no episode returns more: losses max_return - return are >= 0

    def tokens(self, obs: dict[str, np.ndarray], dtype: torch.dtype) -> Tensor:
        """Tokens of a batch of observations: (n, length, input_dim) or (n, input_dim)."""

    def mask(self, obs: dict[str, np.ndarray]) -> Tensor | None:
        """A one-shot attention mask (n, length, length) bool, or None."""

    def actions(self, logits: Tensor) -> np.ndarray:
        """The batched actions of logits (n, length, output_dim) or (n, output_dim)."""

    def trace(
        self, before: Any, after: Any, rows: np.ndarray, info: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """What to record of a step, per episode (arrays (n, ...) over all n episodes).

        `before` and `after` are the states of all episodes around the step; `rows` are the
        episodes that were stepped and `info` their step info.
        """


@dataclass(frozen=True)
class Rollouts:
    """What a batch of P x I x M episodes did."""

    returns: Tensor  # (P, I, M) float64: the episode returns
    trace: dict[str, np.ndarray] | None = None  # each (T, P, I, M, ...): `Player.trace` per step

    @property
    def positions(self) -> np.ndarray:
        """Grid world: the cell (T, P, I, M, 2) entered at each step."""
        return self.trace["positions"]

    @property
    def phases(self) -> np.ndarray:
        """Grid world: the phase (T, P, I, M) before each step (n_phases once done)."""
        return self.trace["phases"]


class Decoder(Protocol):
    """Incremental decoding of P candidates x W slots (see `PopulationDecoder`)."""

    def start(self, policy_seeds: Tensor, n_instances: int) -> None:
        """Empty caches for W = n_instances x M slots; slot i * M + m runs seed m."""

    def step(self, tokens: Tensor) -> Tensor:
        """Feeds one token per slot: tokens (P, W, input_dim) -> logits (P, W, output_dim)."""

    def keep(self, order: Tensor) -> None:
        """Keeps slots `order` (P, W') of every member's decoding state."""


class RolloutEngine:
    """Plays stacked candidates of one transformer architecture on one env in lockstep.

    Args:
        model: The architecture (its own weights are ignored; candidates bring theirs).
        dynamics: The env's batched rules.
        player: How the model plays them; its sizes must match the model's.
        compact_below: Compact the slots (sequential envs) when every member runs at most
            this share of them.
        decoder: Builds the sequential decoder from (model, stacked weights, tokens per
            episode); by default the fused `PopulationDecoder`, or a `VmapDecoder` for a
            `MemoryProcessor`.
    """

    def __init__(
        self,
        model: SeededTransformer,
        dynamics: Dynamics,
        player: Player,
        compact_below: float = 0.75,
        decoder: Callable[[SeededTransformer, dict[str, Tensor], int], Decoder] | None = None,
    ) -> None:
        config = model.config
        if (config.input_dim, config.output_dim) != (player.input_dim, player.output_dim):
            raise ValueError(
                f"model input_dim={config.input_dim}, output_dim={config.output_dim} cannot "
                f"play with {type(player).__name__}; expected input_dim={player.input_dim}, "
                f"output_dim={player.output_dim}"
            )
        if config.max_len < player.length:
            raise ValueError(f"model max_len={config.max_len} < {player.length} tokens per episode")
        if not player.one_shot and config.seed_mode not in SEQUENTIAL_SEED_MODES:
            raise ValueError(
                f"seed_mode={config.seed_mode!r}: decoding step by step needs one of "
                f"{SEQUENTIAL_SEED_MODES}"
            )
        if decoder is None:  # the fused decoder runs the plain transformer only
            decoder = VmapDecoder if isinstance(model, MemoryProcessor) else PopulationDecoder
        self.model, self.dynamics, self.player = model, dynamics, player
        self.compact_below, self.decoder = compact_below, decoder
        self._forward = torch.vmap(self._forward_one, in_dims=(0, None, None, None))

    def _forward_one(self, params, tokens: Tensor, policy_seeds: Tensor, mask: Tensor | None):
        return functional_method_call(self.model, params, "forward", (tokens, policy_seeds, mask))

    @torch.inference_mode()
    def play(
        self, params: Tensor, instances: Any, policy_seeds: Tensor, record: bool = False
    ) -> Rollouts:
        """Plays every candidate on every instance under every policy seed.

        Args:
            params: Candidate parameter vectors (P, D) (see `flatten_parameters`).
            instances: A batch of I instances (as the env generator's `sample_batch` gives
                them), the same for every candidate.
            policy_seeds: M policy seeds, the same for every candidate and instance (common
                random numbers), shaped as by `model.sample_policy_seed`.
            record: Also return the player's trace of every step.

        Returns:
            The returns (P, I, M) and, if recorded, the trace.
        """
        start = self.dynamics.reset(instances)
        shape = (params.shape[0], len(start.done), policy_seeds.shape[0])
        dtype = self.model.head.weight.dtype
        weights = unflatten_parameters(self.model, params.to(dtype))
        play = self._play_one_shot if self.player.one_shot else self._play_sequential
        returns, trace = play(weights, start, policy_seeds.to(dtype), shape, record)
        return Rollouts(
            returns=torch.from_numpy(returns.reshape(shape)),
            trace=None if trace is None else trace.arrays(shape),
        )

    def _play_one_shot(self, weights, start, policy_seeds: Tensor, shape, record: bool):
        """One forward pass per chunk of candidates, then one step of all P x I x M episodes."""
        n_members, n_instances, n_seeds = shape
        obs = self.dynamics.observe(start)
        tokens = self.player.tokens(obs, policy_seeds.dtype)  # (I, L, input_dim)
        mask = self.player.mask(obs)  # (I, L, L) or None
        length, width = tokens.shape[1], self.model.config.width
        per_member = n_instances * n_seeds * length * max(width, length)
        chunk = max(1, ONE_SHOT_ELEMENTS // per_member)
        logits = torch.cat(
            [
                self._forward(_rows_of(weights, begin, chunk), tokens, policy_seeds, mask)
                for begin in range(0, n_members, chunk)
            ]
        )  # (P, I, M, L, output_dim)
        actions = self.player.actions(logits.flatten(0, 2))  # (P*I*M, ...)
        state = batch_index(start, _episode_rows(shape))
        result = self.dynamics.step(state, actions)
        trace = _Trace() if record else None
        if trace is not None:
            every = np.arange(len(result.reward))
            trace.record(self.player.trace(state, result.state, every, result.info))
        return result.reward, trace

    def _play_sequential(self, weights, start, policy_seeds: Tensor, shape, record: bool):
        """Decodes every episode a token per step, compacting slots as episodes finish."""
        n_members, n_instances, n_seeds = shape
        decoder = self.decoder(self.model, weights, self.player.length)
        decoder.start(policy_seeds, n_instances)
        state = batch_index(start, _episode_rows(shape))  # (P*I*M, ...)
        n_slots = n_instances * n_seeds
        slots = np.tile(np.arange(n_slots), (n_members, 1))  # (P, W): episode of each slot
        offsets = np.arange(n_members)[:, None] * n_slots  # (P, 1): first episode of a member
        returns = np.zeros(len(state.done))
        trace = _Trace() if record else None
        while True:
            rows = (offsets + slots).reshape(-1)  # (P*W,) episodes in the slots
            active = ~state.done[rows]
            if not active.any():
                break
            need = active.reshape(slots.shape).sum(axis=1).max()
            if need <= self.compact_below * slots.shape[1]:
                order = np.argsort(~active.reshape(slots.shape), axis=1, kind="stable")[:, :need]
                slots = np.take_along_axis(slots, order, axis=1)
                decoder.keep(torch.from_numpy(order))
                rows = (offsets + slots).reshape(-1)
            playing = batch_index(state, rows)
            tokens = self.player.tokens(self.dynamics.observe(playing), policy_seeds.dtype)
            logits = decoder.step(tokens.view(*slots.shape, -1))  # (P, W, output_dim)
            actions = self.player.actions(logits.flatten(0, 1))  # (P*W, ...)
            result = self.dynamics.step(playing, actions)
            after = batch_copy(state)
            batch_assign(after, rows, result.state)
            if trace is not None:
                trace.record(self.player.trace(state, after, rows, result.info))
            state = after
            returns[rows] += result.reward  # finished (possibly repeated) slots add 0
        return returns, trace


class _Trace:
    """The player's per-episode records of every step, stacked over steps."""

    def __init__(self) -> None:
        self._steps: list[dict[str, np.ndarray]] = []

    def record(self, step: dict[str, np.ndarray]) -> None:
        self._steps.append(step)

    def arrays(self, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        """Each record as (T, *shape, ...)."""
        return {
            key: np.stack([step[key] for step in self._steps]).reshape(-1, *shape, *value.shape[1:])
            for key, value in self._steps[0].items()
        }


def _episode_rows(shape: tuple[int, int, int]) -> np.ndarray:
    """The instance (P*I*M,) of every episode, ordered (member, instance, seed)."""
    n_members, n_instances, n_seeds = shape
    return np.tile(np.repeat(np.arange(n_instances), n_seeds), n_members)


def _rows_of(weights: dict[str, Tensor], begin: int, size: int) -> dict[str, Tensor]:
    """Candidates begin..begin+size of stacked parameters."""
    return {name: value[begin : begin + size] for name, value in weights.items()}
