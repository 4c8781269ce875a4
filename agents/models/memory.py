"""MemoryProcessor: the seeded transformer's blocks applied T times, with a memory of ideas.

T is the number of communication rounds. Round t (1-based) runs the model's blocks, shared by
all rounds, over the token states; each position then writes its idea
``M_t = read_idea(h_t)`` (``idea_dim`` = k features) into its own memory. In the later rounds a
position's attention also reads its own earlier ideas, each embedded as
``write_idea(M_s) + round_embed[s]``: round t reads M_1 .. M_{t-1} and never a later idea. The
memory is per position, so it opens no path the attention mask forbids (a coloring vertex
still hears only its neighbours; a causal recall position only the positions before it).
With ``read_memory=False`` (an ablation) the rounds share the blocks but read no ideas: the
model is then the SeededTransformer of n_layers * T blocks, round after round the same ones.

With T = 1 nothing is read from the memory: the model is the ``SeededTransformer`` of the same
config (and, from the same generator, of the same weights, the memory's weights drawn after).
The residual projections start scaled as in a model of n_layers * T blocks. Iterated linear
attention without LayerNorm (the paper presets) grows cubically per block and overflows from
about 6 blocks on: use pre-LN (``layer_norm``, the paper_tables presets) for larger T.
Every seed mode works as in ``SeededTransformer``, whose embedding, seeds and head this reuses.

Incremental decoding (``init_cache`` / ``step``, causal mask only) runs every round at the new
position: round t's blocks read their own caches of the earlier positions (T x n_layers
caches) and the position's own earlier ideas, which are made in the same step and never
cached. A step costs about T plain steps.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from agents.models.transformer import (
    LEARNED_POSITION_STD,
    DecodeCache,
    SeededTransformer,
    TransformerConfig,
    _check_int,
    _linear,
    _trunc_normal_,
)


@dataclass(frozen=True)
class MemoryConfig(TransformerConfig):
    """A ``TransformerConfig`` plus the rounds and the size of the ideas."""

    memory_rounds: int = 1  # T: rounds of the shared blocks, one idea per position each
    idea_dim: int = 8  # k: features of an idea
    read_memory: bool = True  # False (an ablation): the rounds share the blocks, read no ideas

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_int("memory_rounds", self.memory_rounds, 1)
        _check_int("idea_dim", self.idea_dim, 1)
        if not isinstance(self.read_memory, bool):
            raise ValueError(f"read_memory={self.read_memory!r} is invalid; expected a bool")


_PLAIN_FIELDS = {field.name for field in dataclasses.fields(TransformerConfig)}


def build_model(
    config: TransformerConfig, generator: torch.Generator | None = None
) -> SeededTransformer:
    """The model a config describes: a ``MemoryProcessor`` for a ``MemoryConfig``."""
    if isinstance(config, MemoryConfig):
        return MemoryProcessor(config, generator)
    return SeededTransformer(config, generator)


def model_config(**fields: object) -> TransformerConfig:
    """The config of saved fields: a ``MemoryConfig`` when they name memory fields."""
    plain = set(fields) <= _PLAIN_FIELDS
    return TransformerConfig(**fields) if plain else MemoryConfig(**fields)  # type: ignore[arg-type]


class MemoryProcessor(SeededTransformer):
    """A SeededTransformer whose blocks run ``config.memory_rounds`` times over a memory.

    Args:
        config: The hyperparameters.
        generator: Source of the initial weights; the global RNG is used when None.
    """

    config: MemoryConfig

    def __init__(self, config: MemoryConfig, generator: torch.Generator | None = None):
        super().__init__(config, generator)
        width, k = config.width, config.idea_dim
        self.read_idea = _linear(width, k)
        self.write_idea = _linear(k, width)
        # the ideas of rounds 1 .. T-1 are read (the last round's only by the idea loss)
        self.round_embed = nn.Parameter(torch.empty(config.memory_rounds - 1, width))
        with torch.no_grad():
            for linear in (self.read_idea, self.write_idea):
                _trunc_normal_(linear.weight, 1 / linear.in_features**0.5, generator)
                nn.init.zeros_(linear.bias)
            _trunc_normal_(self.round_embed, LEARNED_POSITION_STD, generator)
            for block in self.blocks:  # residual branches scaled as those of n_layers * T blocks
                for branch in (block.attn, block.mlp):
                    if branch is not None:
                        branch.proj.weight.div_(config.memory_rounds**0.5)

    @property
    def factorises(self) -> bool:
        """Never: ``forward_last`` runs the rounds (see ``SeededTransformer.forward_last``)."""
        return False

    @property
    def rings(self) -> bool:
        """Never: ``forward_cycle`` runs the rounds (see ``SeededTransformer.forward_cycle``)."""
        return False

    def run(
        self,
        x: Tensor,
        policy_seed: Tensor,
        mask: Tensor | None = None,
        forced_ideas: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """All rounds: the final states and the ideas of every round.

        Args:
            x: Raw tokens (*batch, L, input_dim).
            policy_seed: S seeds, shaped as by ``sample_policy_seed``.
            mask: Optional bool (L, L) or (*batch, L, L), as in ``SeededTransformer.forward``.
            forced_ideas: Optional ideas (*batch, S, T, P, k) that the memory holds instead of
                the model's own (teacher forcing): round t reads rows 1 .. t-1.

        Returns:
            The states (*batch, S, P, width) after the last round and the model's own ideas
            (*batch, S, T, P, k) of every round, where the P = n_prefix + L positions start
            with a prefix_normal seed token.
        """
        length, cfg = self._check_tokens(x), self.config
        h = self._embed(x, policy_seed)
        allowed = self._attention_mask(length, mask, x.device)  # broadcastable to (.., P, P)
        n_positions = h.shape[-2]
        own = torch.eye(n_positions, dtype=torch.bool, device=x.device)  # its own ideas only
        own = own.expand(*allowed.shape[:-2], n_positions, n_positions)
        memory: list[Tensor] = []  # the embedded ideas of the rounds so far
        ideas = []
        for t in range(cfg.memory_rounds):
            read = torch.cat([own] * t + [allowed], dim=-1)  # (.., P, (t + 1) P)
            for block in self.blocks:
                if memory:  # the memory's positions come first; the tokens' states are kept
                    h = block(torch.cat([*memory, h], dim=-2), read, n_positions)
                else:  # nothing to read: exactly the plain block
                    h = block(h, allowed)
            ideas.append(self.read_idea(h))
            if t + 1 < cfg.memory_rounds and cfg.read_memory:
                kept = ideas[-1] if forced_ideas is None else forced_ideas[..., t, :, :]
                memory.append(self._remembered(kept, t))
        return h, torch.stack(ideas, dim=-3)

    def ideas(self, x: Tensor, policy_seed: Tensor, mask: Tensor | None = None) -> Tensor:
        """The ideas (*batch, S, T, L, k) of the L input tokens (a prefix seed token's dropped)."""
        return self.run(x, policy_seed, mask)[1][..., self.config.n_prefix :, :]

    def _logits(
        self, x: Tensor, policy_seed: Tensor, mask: Tensor | None, last: bool = False
    ) -> Tensor:
        """Logits after the last round (used by ``forward`` and ``forward_last``)."""
        h = self.run(x, policy_seed, mask)[0]
        logits = self.head(h[..., -1:, :] if last else h[..., self.config.n_prefix :, :])
        return logits.expand(*x.shape[:-2], *logits.shape[-3:])

    def _remembered(self, idea: Tensor, t: int) -> Tensor:
        """The memory entry (..., width) of an idea (..., k) of round t (0-based)."""
        return self.write_idea(idea) + self.round_embed[t]

    def _empty_layers(self, shape: tuple[int, ...]) -> tuple[tuple[Tensor, ...], ...]:
        """A cache per round and block, round after round: the rounds see different states."""
        plain = super()._empty_layers
        return sum((plain(shape) for _ in range(self.config.memory_rounds)), ())

    def _advance(self, h: Tensor, cache: DecodeCache) -> tuple[Tensor, DecodeCache]:
        """Every round at one new position, its attention reading its own earlier ideas."""
        h, position = self._finish_embedding(h, cache.position), cache.position
        n_layers, memory, layers = len(self.blocks), [], ()
        for t in range(self.config.memory_rounds):
            read = torch.stack(memory, dim=-2) if memory else None  # (*batch, S, t, width)
            own = cache.layers[t * n_layers : (t + 1) * n_layers]  # this round's caches
            h, own = self._step_blocks(h, own, position, read)
            layers += own
            if t + 1 < self.config.memory_rounds and self.config.read_memory:
                memory.append(self._remembered(self.read_idea(h), t))
        return h, DecodeCache(cache.policy_seed, layers, position + 1)
