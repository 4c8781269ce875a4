"""A fused population decoder: P candidates of one transformer decode a token at a time.

`SeededTransformer.step` under `torch.vmap` runs every candidate's modules one op at a time
through vmap's batching rules. Here every layer of all candidates is one batched GEMM over
(candidates x slots), ``torch.baddbmm(bias, h, W)`` with h (P, W, in) and W (P, in, out):
the weights are laid out once per generation (transposed, contiguous; each pre-LN's gain
and shift folded into the linear map it feeds, so a LayerNorm is a plain normalisation).
Softmax attention reads only the written prefix of its KV cache (P, H, T, ks, W); linear
attention adds k v^T to its state (P, H, ks, ks, W) in place (the slots innermost). Slot s
of a member starts with policy seed s mod M; `step` decodes the first W slots, and
`copy_slots` copies decoding states between slots in place (the engine's `SlotSplit`).

`VmapDecoder` decodes any model that has ``init_cache`` / ``step`` (a `MemoryProcessor` too):
`torch.vmap` of the model's own ``step`` over the stacked candidates, several times slower.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from agents.models.memory import MemoryProcessor
from agents.models.population import functional_method_call
from agents.models.transformer import DecodeCache, SeededTransformer, TransformerConfig

BLOCK_STATE_ELEMENTS = 2**20  # attention-state elements of one layer that a block of
# candidates reads per step: about 4 MB in float32, so the state stays in the CPU cache between
# the ops of a layer (on the paper grid model 1.9x faster than 16x larger blocks for softmax
# attention, 1.4x for linear: benchmarks/engine_blocks.py)


def members_per_block(config: TransformerConfig, n_slots: int, position: int) -> int:
    """Candidates decoded at once at ``position``, a block whose attention state stays small.

    Per slot and head, a layer's state is the key x key linear state, or the keys and values
    written so far; the block's stays within ``BLOCK_STATE_ELEMENTS``.
    """
    heads, size = config.n_heads, config.key_size
    rows = 2 * (position + 1) if config.attention == "softmax" else size
    return max(1, BLOCK_STATE_ELEMENTS // (n_slots * heads * size * rows))


@dataclass(frozen=True)
class _Linear:
    """A linear map of every candidate: weight (P, in, out) and bias (P, 1, out)."""

    weight: Tensor
    bias: Tensor

    def __call__(self, h: Tensor) -> Tensor:
        """Maps h (P, W, in) to h W + b (P, W, out)."""
        return torch.baddbmm(self.bias, h, self.weight)

    def rows(self, members: slice) -> _Linear:
        """The maps of candidates `members` (views)."""
        return _Linear(self.weight[members], self.bias[members])

    def columns(self, h: Tensor) -> Tensor:
        """Maps h (P, W, in) to (h W + b)^T (P, out, W): the slots innermost."""
        return torch.baddbmm(self.bias.mT, self.weight.mT, h.mT)

    def add_to(self, h: Tensor, x: Tensor) -> None:
        """Adds x W + b to h, in place."""
        h.baddbmm_(x, self.weight).add_(self.bias)


def _linear(weights: dict[str, Tensor], name: str, norm: str | None = None) -> _Linear:
    """The stacked nn.Linear `name`, with the affine part of LayerNorm `norm` folded in.

    Linear(LN(x)) = x_hat (g W^T) + (b W^T + c) where x_hat is the plain normalisation and
    g, b the LayerNorm's gain and shift.
    """
    weight = weights[f"{name}.weight"].transpose(1, 2)  # (P, in, out)
    bias = weights[f"{name}.bias"].unsqueeze(1)  # (P, 1, out)
    if norm is not None:
        bias = torch.baddbmm(bias, weights[f"{norm}.bias"].unsqueeze(1), weight)
        weight = weights[f"{norm}.weight"].unsqueeze(2) * weight
    return _Linear(weight.contiguous(), bias.contiguous())


@dataclass(frozen=True)
class _Block:
    """One block's maps: attention qkv and projection, the optional MLP."""

    qkv: _Linear
    proj: _Linear
    fc: _Linear | None
    out: _Linear | None

    def rows(self, members: slice) -> _Block:
        """The block of candidates `members` (views)."""
        return _Block(
            *(None if part is None else part.rows(members) for part in vars(self).values())
        )


class PopulationDecoder:
    """Decodes P x W sequences (P candidates, W slots each) a token per `step`.

    Args:
        model: The architecture (causal mask, seed mode "prefix_normal" or "none").
        weights: Every candidate's parameters, stacked (P, ...) as `unflatten_parameters`
            gives them.
        length: Most tokens per sequence (a prefix seed token not counted).
    """

    def __init__(self, model: SeededTransformer, weights: dict[str, Tensor], length: int) -> None:
        config = model.config
        if isinstance(model, MemoryProcessor):
            raise ValueError("a MemoryProcessor's rounds are not fused: decode it with VmapDecoder")
        if config.mask != "causal" or config.seed_mode not in ("prefix_normal", "none"):
            raise ValueError(
                f"mask={config.mask!r}, seed_mode={config.seed_mode!r} cannot decode step by "
                "step; expected mask='causal' and seed_mode 'prefix_normal' or 'none'"
            )
        if not 1 <= length <= config.max_len:
            raise ValueError(f"length={length} is invalid; expected 1 <= length <= max_len")
        self.config = config
        self.length = length + config.n_prefix  # positions of a KV cache
        self.eps = model.blocks[0].ln_attn.eps if config.layer_norm else 0.0
        self.softmax = config.attention == "softmax"
        self.embed = _linear(weights, "embed")
        self.seed_embed = _linear(weights, "seed_embed") if config.n_prefix else None
        self.embed_mlp = _linear(weights, "embed_mlp") if config.embed_mlp else None
        pos = weights["pos"] if config.positional == "learned" else model.pos
        self.pos = None if pos is None else pos.to(self.embed.weight.dtype)  # ([P,] T, width)
        self.blocks = [self._block(weights, f"blocks.{i}") for i in range(config.n_layers)]
        self.head = _linear(weights, "head")
        self.caches: list[tuple[Tensor, ...]] = []
        self.position = 0

    def _block(self, weights: dict[str, Tensor], name: str) -> _Block:
        norm = f"{name}.ln_attn" if self.config.layer_norm else None
        qkv = _linear(weights, f"{name}.attn.qkv", norm)
        proj = _linear(weights, f"{name}.attn.proj")
        if not self.config.mlp:
            return _Block(qkv, proj, None, None)
        norm = f"{name}.ln_mlp" if self.config.layer_norm else None
        fc = _linear(weights, f"{name}.mlp.fc", norm)
        return _Block(qkv, proj, fc, _linear(weights, f"{name}.mlp.proj"))

    @property
    def n_members(self) -> int:
        """P, the number of candidates."""
        return self.head.weight.shape[0]

    def start(
        self, policy_seeds: Tensor, n_instances: int, memory: list[Tensor] | None = None
    ) -> None:
        """Empty caches for n_instances x M slots; slot i * M + m runs seed m.

        Args:
            policy_seeds: M seeds (M, seed_dim); a prefix seed token is consumed here.
            n_instances: I, the sequences per seed.
            memory: The caches of a decoder that has finished: written over where their
                shapes agree, so that consecutive generations use the same memory instead of
                mapping and zeroing theirs anew (the caches of a paper-sized population run
                to hundreds of MB). The list then holds this decoder's caches.
        """
        n_seeds = policy_seeds.shape[0]
        self.caches, self.position = [self._empty(n_seeds) for _ in self.blocks], 0
        if self.seed_embed is not None:  # the seed token is the same for every instance
            seeds = policy_seeds.expand(self.n_members, *policy_seeds.shape)  # (P, M, seed_dim)
            self._advance(self.seed_embed(seeds), slice(None))
            self.position += 1
        spare = iter(memory or ())
        self.caches = [
            tuple(_repeat_slots(t, n_instances, next(spare, None)) for t in cache)
            for cache in self.caches
        ]
        if memory is not None:
            memory[:] = [t for cache in self.caches for t in cache]

    def _empty(self, n_slots: int) -> tuple[Tensor, ...]:
        """One layer's decoding state before any token."""
        cfg, like = self.config, self.head.weight
        members, heads, size = self.n_members, cfg.n_heads, cfg.key_size
        if self.softmax:
            keys = like.new_zeros(members, heads, self.length, size, n_slots)  # (P, H, T, ks, W)
            return keys, torch.zeros_like(keys)
        return (like.new_zeros(members, heads, size, size, n_slots),)  # (P, H, ks, ks, W)

    def copy_slots(self, source: Tensor, target: Tensor) -> None:
        """Copies slot source[p, f] onto target[p, f] (P, F) int64 of every member, in place.

        No target may be a source; of a KV cache only the positions written are copied.
        """
        for cache in self.caches:
            for state in cache:
                written = state[:, :, : self.position] if self.softmax else state
                copy_slots(written, source, target)

    def step(self, tokens: Tensor) -> Tensor:
        """Feeds a token to each of the first W slots: (P, W, input_dim) -> logits (P, W, out)."""
        if self.position >= self.length:
            raise ValueError(f"step at position {self.position}: beyond {self.length} positions")
        chunk = members_per_block(self.config, tokens.shape[1], self.position)
        logits = torch.cat(
            [
                self._step_members(tokens, slice(begin, begin + chunk))
                for begin in range(0, self.n_members, chunk)
            ]
        )
        self.position += 1
        return logits

    def _step_members(self, tokens: Tensor, members: slice) -> Tensor:
        h = self._advance(self.embed.rows(members)(tokens[members]), members)
        return self.head.rows(members)(h)

    def _advance(self, h: Tensor, members: slice) -> Tensor:
        """Pushes embedded tokens (c, W, width) of `members` through every block."""
        if self.embed_mlp is not None:
            h = self.embed_mlp.rows(members)(F.gelu(h))
        if self.pos is not None:
            table = self.pos if self.pos.dim() == 2 else self.pos[members]
            h += table[..., self.position, :].unsqueeze(-2)  # (width,) or (c, 1, width)
        n_slots = h.shape[1]
        for block, cache in zip(self.blocks, self.caches, strict=True):
            block, cache = block.rows(members), tuple(t[members, ..., :n_slots] for t in cache)
            out = self._attend(block.qkv.columns(self._norm(h)), cache)  # (c, H * ks, W)
            block.proj.add_to(h, out.mT)
            if block.fc is not None:
                hidden = block.fc(self._norm(h))
                block.out.add_to(h, _gelu_(hidden))
        return h

    def _norm(self, h: Tensor) -> Tensor:
        return F.layer_norm(h, h.shape[-1:], eps=self.eps) if self.config.layer_norm else h

    def _attend(self, qkv: Tensor, cache: tuple[Tensor, ...]) -> Tensor:
        """Attention outputs (P, H * ks, W) of queries, keys and values (P, 3 * H * ks, W).

        The slots are the innermost dimension of every operand: each product is one
        elementwise pass over contiguous rows of W values (measured several times faster
        than batched matmuls of one (1 x ks) query per slot and head).
        """
        heads, size = self.config.n_heads, self.config.key_size
        q, k, v = qkv.unflatten(1, (3, heads, size)).unbind(1)  # each (P, H, ks, W)
        if self.softmax:
            keys, values = cache  # (P, H, T, ks, W)
            keys[:, :, self.position] = k
            values[:, :, self.position] = v
            out = _softmax_attention(q, keys[:, :, : self.position + 1], values)
        else:
            state = cache[0]  # (P, H, ks, ks, W)
            state.addcmul_(k.unsqueeze(3), v.unsqueeze(2))  # += k v^T
            out = (q.unsqueeze(3) * state).sum(2)  # (P, H, ks, W)
        return out.flatten(1, 2)


class VmapDecoder:
    """Decodes P x W sequences by `torch.vmap` of the model's ``step`` over the candidates.

    Args:
        model: The architecture (causal mask; its caches hold max_len positions).
        weights: Every candidate's parameters, stacked (P, ...) as `unflatten_parameters`
            gives them.
        length: Most tokens per sequence (unused: the model's caches set it).
    """

    def __init__(self, model: SeededTransformer, weights: dict[str, Tensor], length: int) -> None:
        del length
        self.model, self.weights = model, weights
        self._init = torch.vmap(self._init_one, in_dims=(0, None, None))
        self._step = torch.vmap(self._step_one)
        self.cache: DecodeCache | None = None

    def _init_one(self, params: dict[str, Tensor], n_instances: int, policy_seeds: Tensor):
        args = ((n_instances,), policy_seeds)
        return functional_method_call(self.model, params, "init_cache", args)

    def _step_one(self, params: dict[str, Tensor], tokens: Tensor, cache: DecodeCache):
        return functional_method_call(self.model, params, "step", (tokens, cache))

    def start(
        self, policy_seeds: Tensor, n_instances: int, memory: list[Tensor] | None = None
    ) -> None:
        """Empty caches (P, I, M, ...) folded into slots (P, I * M, S=1, ...).

        Slot i * M + m runs seed m, which the caches hold from here on (a prefix seed token
        consumed): the kept seed only sets S = 1. The caches are new each time: ``memory``
        is left as it is.
        """
        cache = self._init(self.weights, n_instances, policy_seeds)
        layers = tuple(tuple(t.flatten(1, 2).unsqueeze(2) for t in c) for c in cache.layers)
        self.cache = DecodeCache(cache.policy_seed[:, :1], layers, cache.position)

    def step(self, tokens: Tensor) -> Tensor:
        """Feeds a token to each of the first W slots: (P, W, input_dim) -> logits (P, W, out)."""
        n_slots, cache = tokens.shape[1], self.cache
        layers = tuple(tuple(t[:, :n_slots] for t in layer) for layer in cache.layers)
        stepped = DecodeCache(cache.policy_seed, layers, cache.position)
        logits, stepped = self._step(self.weights, tokens.unsqueeze(2), stepped)
        for layer, new in zip(cache.layers, stepped.layers, strict=True):
            for state, value in zip(layer, new, strict=True):
                state[:, :n_slots] = value
        self.cache = DecodeCache(cache.policy_seed, cache.layers, stepped.position)
        return logits.squeeze(2)

    def copy_slots(self, source: Tensor, target: Tensor) -> None:
        """Copies slot source[p, f] onto target[p, f] (P, F) int64 of every member, in place."""
        for layer in self.cache.layers:
            for state in layer:
                copy_slots(state, source, target, dim=1)


def _softmax_attention(q: Tensor, keys: Tensor, values: Tensor) -> Tensor:
    """Softmax attention of queries (P, H, ks, W) over keys (P, H, t, ks, W) and values."""
    seen, size = keys.shape[2], keys.shape[3]
    scores = (keys * q.unsqueeze(2)).sum(3)  # (P, H, t, W)
    weights = scores.div_(math.sqrt(size)).softmax(dim=2)
    return (values[:, :, :seen] * weights.unsqueeze(3)).sum(2)  # (P, H, ks, W)


def _gelu_(x: Tensor) -> Tensor:
    """GELU (exact, erf) in place."""
    return torch._C._nn.gelu_(x)


def _repeat_slots(t: Tensor, n_instances: int, out: Tensor | None = None) -> Tensor:
    """(..., M) -> (..., I * M): slot i * M + m is a copy of slot m; in `out` if it fits."""
    repeated = t.unsqueeze(-2).expand(*t.shape[:-1], n_instances, t.shape[-1])
    shape = (*t.shape[:-1], n_instances * t.shape[-1])
    if out is None or out.shape != shape or out.dtype != t.dtype or not out.is_contiguous():
        return repeated.flatten(-2).contiguous()  # a copy even where flatten gives a view
    out.view(repeated.shape).copy_(repeated)
    return out


def copy_slots(state: Tensor, source: Tensor, target: Tensor, dim: int = -1) -> None:
    """Copies slots `source` onto `target` (P, F) of a decoding state (P, ...), in place."""
    dim = dim % state.dim()
    shape, size = [len(source)] + [1] * (state.dim() - 1), list(state.shape)
    shape[dim] = size[dim] = source.shape[1]
    values = state.gather(dim, source.view(shape).expand(size))
    state.scatter_(dim, target.view(shape).expand(size), values)
