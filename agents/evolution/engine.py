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
attention) so that a step costs O(context). Each member decodes W "slots", one per distinct
history: episodes whose tokens so far are equal share a slot, and finished episodes leave
theirs (`SlotSplit`), so a generation costs the distinct histories actually played. A
`MemoryProcessor`, which the fused decoder does not run, is decoded by a `VmapDecoder`.
"""

from __future__ import annotations

import functools
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
from randgym.envs.dynamics import Dynamics, StepResult

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

    def start(
        self, policy_seeds: Tensor, n_instances: int, memory: list[Tensor] | None = None
    ) -> None:
        """Empty caches for n_instances x M slots; slot i * M + m runs seed m.

        ``memory`` holds the caches of the decoder before, which this one may write over; it
        then holds this one's.
        """

    def step(self, tokens: Tensor) -> Tensor:
        """Feeds a token to each of the first W slots: (P, W, input_dim) -> logits (P, W, out)."""

    def copy_slots(self, source: Tensor, target: Tensor) -> None:
        """Copies slot source[p, f] onto target[p, f] (P, F) of every member, in place."""


class RolloutEngine:
    """Plays stacked candidates of one transformer architecture on one env in lockstep.

    Args:
        model: The architecture (its own weights are ignored; candidates bring theirs).
        dynamics: The env's batched rules.
        player: How the model plays them; its sizes must match the model's.
        share_histories: Decode the episodes of a member with equal histories once
            (sequential envs; False: a slot per episode, the same returns).
        compact_below: Step fewer slots when every member uses at most this share of them.
        decoder: Builds the sequential decoder from (model, stacked weights, tokens per
            episode); by default the fused `PopulationDecoder`, or a `VmapDecoder` for a
            `MemoryProcessor`.
    """

    def __init__(
        self,
        model: SeededTransformer,
        dynamics: Dynamics,
        player: Player,
        share_histories: bool = True,
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
        self.share_histories, self.compact_below = share_histories, compact_below
        self.decoder = decoder
        self._cache_memory: list[Tensor] = []  # the last decoder's caches, for the next one
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
        trace = _Trace(self.player, state) if record else None
        if trace is not None:
            trace.record(np.arange(len(result.reward)), result)
        return result.reward, trace

    def _play_sequential(self, weights, start, policy_seeds: Tensor, shape, record: bool):
        """Decodes every distinct history a token per step (see `SlotSplit`).

        Only the episodes still playing are stepped: `state` holds them, `rows` says which
        episodes they are (numbered (member, instance, seed)).
        """
        n_members, n_instances, n_seeds = shape
        decoder = self.decoder(self.model, weights, self.player.length)
        decoder.start(policy_seeds, n_instances, self._cache_memory)  # slot i * M + m: seed m
        state = batch_index(start, _episode_rows(shape))  # (P*I*M, ...)
        trace = _Trace(self.player, state) if record else None
        rows = np.arange(len(state.done))
        member = rows // (n_instances * n_seeds)
        # shared: at first every instance under seed m is in slot m; else episode (i, m) in
        # slot i * M + m
        width = n_seeds if self.share_histories else n_instances * n_seeds
        slot = rows % width
        returns = np.zeros(len(rows))
        while True:
            playing = np.flatnonzero(~state.done)
            if len(playing) < len(rows):
                state, rows = batch_index(state, playing), rows[playing]
                member, slot = member[playing], slot[playing]
            if not len(rows):
                break
            tokens = self.player.tokens(self.dynamics.observe(state), policy_seeds.dtype)
            keys = tokens if self.share_histories else rows  # rows: every episode apart
            split = SlotSplit(member, slot, keys, width, n_members, self.compact_below)
            if split.copies is not None:
                decoder.copy_slots(*(torch.from_numpy(part) for part in split.copies))
            slot, width = split.slots, split.width
            logits = decoder.step(split.slot_tokens(tokens))  # (P, W, output_dim)
            result = self.dynamics.step(state, self.player.actions(logits[member, slot]))
            returns[rows] += result.reward
            if trace is not None:
                trace.record(rows, result)
            state = result.state
        return returns, trace


class SlotSplit:
    """Which decoding slot each playing episode feeds its next token into.

    Episodes of one member whose tokens so far are equal have the same decoding state, so
    they share a slot (a grid treasure not yet found looks the same in every instance, so the
    search phase of all I instances is decoded once per member and seed). Each step a slot
    splits where its episodes' new tokens differ: the first history keeps the slot, the others
    take copies of it in free slots, and a slot whose episodes all finished is free. The
    decoder steps the first W slots of every member, W the most histories any member has;
    when every member uses at most `compact_below` of them, the histories beyond the new W
    move into free slots below it. All of it is one batch of slot copies (`copies`), so a
    generation costs about the distinct histories, not the episodes, and an episode's logits
    are still those of its own history.

    Args:
        members: The member (n,) of each playing episode.
        slots: Its slot before this step (n,): equal slots mean equal histories so far.
        keys: What tells its history apart from now on: the new tokens (n, input_dim), or
            anything unique per episode to give each its own slot.
        width: W, the slots stepped before this step.
        n_members: P.
        compact_below: Shrink W when every member uses at most this share of it.
    """

    def __init__(
        self,
        members: np.ndarray,
        slots: np.ndarray,
        keys: Tensor | np.ndarray,
        width: int,
        n_members: int,
        compact_below: float,
    ) -> None:
        first, inverse = _unique_rows(members, slots, np.asarray(keys).reshape(len(members), -1))
        owner, parent = members[first], slots[first]  # sorted by member, then old slot
        kept = np.ones(len(first), dtype=bool)  # the first history of a slot keeps it
        kept[1:] = (owner[1:] != owner[:-1]) | (parent[1:] != parent[:-1])
        need = int(np.bincount(owner).max())
        self.width = need if need > width or need <= compact_below * width else width
        stays = kept & (parent < self.width)
        used = np.zeros((n_members, self.width), dtype=bool)
        used[owner[stays], parent[stays]] = True
        free = np.argsort(used, axis=1, kind="stable")  # each member's free slots first
        movers = np.flatnonzero(~stays)  # forks, and histories beyond the new width
        new = parent.copy()
        new[movers] = free[owner[movers], _rank_within(owner[movers])]
        self.copies = (
            _padded_pairs(owner[movers], parent[movers], new[movers], n_members)
            if len(movers)
            else None
        )  # (source, target) slots (P, F): targets are free slots, never a source
        self.slots = new[inverse]  # (n,) the new slot of every playing episode
        self.n_members = n_members
        self._owner, self._new, self._first = owner, new, first

    def slot_tokens(self, tokens: Tensor) -> Tensor:
        """The token (P, W, input_dim) of every slot (zeros in unused slots)."""
        out = tokens.new_zeros(self.n_members, self.width, tokens.shape[1])
        out[self._owner, self._new] = tokens[self._first]
        return out


def _unique_rows(members: np.ndarray, slots: np.ndarray, keys: np.ndarray):
    """First row and inverse of each distinct (member, slot, key), sorted by member and slot.

    Keys are told apart by a random projection, checked exactly (by their bytes if two
    distinct keys ever project alike).
    """
    group = members * (int(slots.max()) + 1) + slots
    projection = keys.astype(np.float64) @ _projection(keys.shape[1])
    order = np.lexsort((projection, group))
    starts = np.r_[True, (np.diff(group[order]) != 0) | (np.diff(projection[order]) != 0)]
    first = order[starts]
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = np.cumsum(starts) - 1
    if np.array_equal(keys, keys[first[inverse]]):
        return first, inverse
    return _unique_bytes(members, slots, keys)


@functools.cache
def _projection(size: int) -> np.ndarray:
    """A fixed random direction (size,) that tells token vectors apart.

    Its weights are integers below 2**20: tokens of integers (one-hot features, rewards)
    project exactly, so equal tokens project alike wherever the matmul's summation order
    depends on their row (a float direction split equal histories now and then).
    """
    return np.random.default_rng(size).integers(1, 2**20, size).astype(np.float64)


def _unique_bytes(members: np.ndarray, slots: np.ndarray, keys: np.ndarray):
    """`_unique_rows` by the rows' bytes: slower, and exact however the keys project."""
    ids = np.stack([members, slots], axis=1).astype(">i8")  # big-endian: bytes sort as ints
    rows = np.concatenate([ids.view(np.uint8), np.ascontiguousarray(keys).view(np.uint8)], axis=1)
    rows = np.ascontiguousarray(rows).view(np.dtype((np.void, rows.shape[1]))).ravel()
    _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    return first, inverse.ravel()


def _rank_within(groups: np.ndarray) -> np.ndarray:
    """The rank 0, 1, ... of each element among the equal ones of a sorted array."""
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    return np.arange(len(groups)) - np.repeat(starts, np.diff(np.r_[starts, len(groups)]))


def _padded_pairs(owner, source, target, n_members: int) -> tuple[np.ndarray, np.ndarray]:
    """Copies (P, F) of slot `source` onto `target` per member, padded by repeating one."""
    rank = _rank_within(owner)
    src = np.zeros((n_members, int(rank.max()) + 1), dtype=np.int64)
    dst = np.zeros_like(src)
    first = rank == 0  # pad every member with its first copy (or slot 0 onto itself)
    src[owner[first]] = source[first, None]
    dst[owner[first]] = target[first, None]
    src[owner, rank], dst[owner, rank] = source, target
    return src, dst


class _Trace:
    """The player's per-episode records of every step, stacked over steps.

    Args:
        player: Records what a step did (`Player.trace`).
        state: Every episode's state before the first step.
    """

    def __init__(self, player: Player, state: Any) -> None:
        self.player, self.state = player, state  # states are never written in place
        self._steps: list[dict[str, np.ndarray]] = []

    def record(self, rows: np.ndarray, result: StepResult) -> None:
        """Records the step of episodes `rows` (increasing; the others finished before it)."""
        after = result.state
        if len(rows) < len(self.state.done):  # the finished episodes keep their states
            after = batch_copy(self.state)
            batch_assign(after, rows, result.state)
        self._steps.append(self.player.trace(self.state, after, rows, result.info))
        self.state = after

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
