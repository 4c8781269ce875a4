"""SeededTransformer: a small transformer whose random policy seed is part of its input.

Random Seed Encodings (how the seed enters the model), with the shape of a batch of S seeds:
``shared_bits`` (S, d_r): Bernoulli(0.5) bits concatenated to every token (recall);
``per_token_uniform`` (S, L, d_r): U[0, 1] per token, concatenated (coloring);
``prefix_normal`` (S, d_r): N(0, seed_std^2), embedded by its own linear layer as token 0 (grid
world);
``none`` (S, 0).
With ``seed_pool=K`` the seeds are drawn uniformly from K fixed draws of that distribution (the
same for every model of that config): the model is then a mixture of K deterministic policies,
whose expectation over seeds can be computed exactly by playing all K.

``forward`` runs every input under every seed in one batched call. ``init_cache`` / ``step``
decode a token at a time in O(context): a KV cache (softmax) or the state sum_t k_t v_t^T
(linear attention). ``functional_call`` + ``vmap`` over a stacked population of parameter sets
work throughout (see ``agents.models.population``); each task owns its model presets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
import torch.utils._pytree as pytree
from torch import Tensor, nn

from randgym.envs.graph_coloring import adjacency_from_orders

ATTENTIONS = ("linear", "softmax")
POSITIONALS = ("none", "sinusoidal", "learned")
MASKS = ("causal", "none")
SEED_MODES = ("shared_bits", "per_token_uniform", "prefix_normal", "none")
TRUNC_NORMAL_STD = 0.8796256610342398  # std of a standard normal truncated to [-2, 2]
LEARNED_POSITION_STD = 0.02  # init std of a learned positional table (as nanoGPT's wpe)
SEED_POOL_GENERATOR_SEED = 0  # seeds the fixed draws of a seed pool


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not supported; expected one of {choices}")


def _check_int(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}={value!r} is invalid; expected an int >= {minimum}")


@dataclass(frozen=True)
class TransformerConfig:
    """Hyperparameters of a SeededTransformer (validated on construction)."""

    input_dim: int  # raw features per input token, without the policy seed
    output_dim: int  # logits per output position
    width: int = 40  # d_model: the residual stream and every embedding
    n_layers: int = 2
    n_heads: int = 1
    key_size: int = 5  # per head; queries, keys and values all use this size
    attention: str = "linear"  # "linear": ((Q K^T) * M) V, no softmax; "softmax": masked softmax
    mlp: bool = False  # an MLP sub-block (hidden 4 * width, GELU) after each attention
    layer_norm: bool = False  # pre-LN on the inputs of attention and MLP (no final LN)
    embed_mlp: bool = False  # paper-code "first_mlp": h = Linear(gelu(h)) after the input embedding
    positional: str = "none"  # "none" | "sinusoidal" (fixed) | "learned"; added after embedding
    max_len: int = 64  # most input tokens per sequence, not counting a prefix_normal seed token
    mask: str = "causal"  # "causal" | "none"; a mask given at call time is ANDed with it
    seed_mode: str = "shared_bits"  # how the policy seed enters, see the module docstring
    seed_dim: int = 10  # d_r: features per seed vector (ignored when seed_mode is "none")
    seed_pool: int = 0  # K > 0: seeds drawn uniformly from K fixed ones; 0: fresh draws
    seed_std: float = 1.0  # std of prefix_normal seeds (larger: seeds sway the policy more)

    def __post_init__(self) -> None:
        for name in ("input_dim", "output_dim", "width", "n_layers", "n_heads", "key_size"):
            _check_int(name, getattr(self, name), 1)
        _check_int("max_len", self.max_len, 1)
        _check_int("seed_dim", self.seed_dim, 0 if self.seed_mode == "none" else 1)
        _check_int("seed_pool", self.seed_pool, 0)
        _check_choice("attention", self.attention, ATTENTIONS)
        _check_choice("positional", self.positional, POSITIONALS)
        _check_choice("mask", self.mask, MASKS)
        _check_choice("seed_mode", self.seed_mode, SEED_MODES)
        for name in ("mlp", "layer_norm", "embed_mlp"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}={getattr(self, name)!r} is invalid; expected a bool")
        std = self.seed_std
        if isinstance(std, bool) or not isinstance(std, int | float) or not 0 < std < math.inf:
            raise ValueError(f"seed_std={self.seed_std!r} is invalid; expected a positive number")
        if self.seed_std != 1 and self.seed_mode != "prefix_normal":
            raise ValueError(f"seed_std={self.seed_std}: only prefix_normal seeds have a std")
        if self.seed_pool and self.seed_mode == "none":
            raise ValueError(f"seed_pool={self.seed_pool}: seed_mode='none' has no seeds to pool")

    @property
    def concat_seed_dim(self) -> int:
        """Seed features concatenated to each token (0 unless the seed is concatenated)."""
        return self.seed_dim if self.seed_mode in ("shared_bits", "per_token_uniform") else 0

    @property
    def n_prefix(self) -> int:
        """Number of prepended seed tokens (1 for prefix_normal, else 0)."""
        return int(self.seed_mode == "prefix_normal")


def _trunc_normal_(weight: Tensor, std: float, generator: torch.Generator | None) -> None:
    """Truncated normal at +-2 std, rescaled so that its variance is std**2 (as Haiku does)."""
    scaled = std / TRUNC_NORMAL_STD
    nn.init.trunc_normal_(weight, std=scaled, a=-2 * scaled, b=2 * scaled, generator=generator)


def _linear(in_features: int, out_features: int) -> nn.Linear:
    """An uninitialised nn.Linear (no draws from the global RNG); the model initialises it."""
    return nn.utils.skip_init(nn.Linear, in_features, out_features)


def _sinusoidal(n_positions: int, width: int) -> Tensor:
    """The fixed sin/cos table of 'Attention is all you need', shape (n_positions, width)."""
    position = torch.arange(n_positions, dtype=torch.float64)[:, None]
    frequency = torch.exp(torch.arange(0, width, 2, dtype=torch.float64) * (-math.log(1e4) / width))
    table = torch.zeros(n_positions, width, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)[:, : width // 2]
    return table.float()


def _distinct(x: Tensor) -> Tensor:
    """``x`` (*batch, L, F) with its broadcast batch dims (stride 0) narrowed to size 1.

    Inputs that are the same for the whole batch (e.g. the coloring's vertex ids) then go
    through the embedding and the first attention once; broadcasting restores the batch.
    """
    for dim in range(x.dim() - 2):
        if x.stride(dim) == 0:
            x = x.narrow(dim, 0, 1)
    return x


def _apply_weights(weights: Tensor, v: Tensor) -> Tensor:
    """``weights @ v`` for (..., T, T) weights and (..., T, ks) values, broadcast.

    Batch dims where the values are shared (size 1) but the weights are not (inputs shared by
    the batch under per-input masks) become rows of a few larger matmuls instead of many
    T x T ones.
    """
    v = v.reshape((1,) * (weights.dim() - v.dim()) + v.shape)
    n_batch = weights.dim() - 2
    shared = [d for d in range(n_batch) if v.shape[d] == 1 < weights.shape[d]]
    if not shared:
        return weights @ v
    kept = [d for d in range(n_batch) if d not in shared]
    order = [*kept, *shared, n_batch, n_batch + 1]  # the shared dims next to the query rows
    kept_shape = [weights.shape[d] for d in kept]
    rows = weights.permute(order).reshape(*kept_shape, -1, weights.shape[-1])
    values = v.reshape(*[v.shape[d] for d in kept], *v.shape[-2:])
    out = (rows @ values).reshape(*[weights.shape[d] for d in order[:-1]], v.shape[-1])
    return out.permute([order.index(d) for d in range(weights.dim())])


def _oriented_matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b``; a result with fewer columns than rows as ``(b^T a^T)^T`` of contiguous copies.

    Batched CPU matmuls of small matrices are several times slower when the result is narrow
    (16 x 5 blocks: measured 3x), so the product runs the wide way round.
    """
    if b.shape[-1] < a.shape[-2]:
        return (b.mT.contiguous() @ a.mT.contiguous()).mT
    return a @ b


def in_cycle_order(values: Tensor, order: Tensor) -> Tensor:
    """Per-vertex values (B, S, N, F) of cycles reordered along each cycle of order (B, N)."""
    index = order[:, None, :, None].expand(-1, values.shape[1], -1, values.shape[-1])
    return values.gather(-2, index)


def _small_product(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` of stacks of small matrices (a few rows or columns, or a short inner dim).

    Under ``torch.compile`` a broadcast product summed over the inner dim, which inductor
    fuses with its neighbours into one loop. Eager (where the broadcast form materialises
    every product and is several times slower), one matmul against a matrix ``b``, and
    ``_SmallMatmul``'s batched products against a stack.
    """
    if torch.compiler.is_compiling():
        return (a.unsqueeze(-1) * b.unsqueeze(-3)).sum(-2)
    return a @ b if b.dim() == 2 else _SmallMatmul.apply(a, b)


class _SmallMatmul(torch.autograd.Function):
    """``a @ b`` of stacks of small matrices whose backward products also run the wide way."""

    generate_vmap_rule = True

    @staticmethod
    def forward(a: Tensor, b: Tensor) -> Tensor:
        return _oriented_matmul(a, b)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, Tensor], output: Tensor) -> None:
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor]:
        a, b = ctx.saved_tensors
        return _oriented_matmul(grad, b.mT), _oriented_matmul(a.mT, grad)


def _masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax over allowed keys; a row with no allowed key gives zeros, not NaN."""
    filled = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return filled.softmax(dim=-1) * mask.any(dim=-1, keepdim=True)


class Attention(nn.Module):
    """Multi-head self-attention, linear (no softmax) or softmax."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.n_heads, self.key_size = config.n_heads, config.key_size
        self.softmax = config.attention == "softmax"
        self.qkv = _linear(config.width, 3 * config.n_heads * config.key_size)
        self.proj = _linear(config.n_heads * config.key_size, config.width)

    def _heads(self, h: Tensor) -> tuple[Tensor, ...]:
        qkv = self.qkv(h).unflatten(-1, (3, self.n_heads, self.key_size))  # (..., 3, H, ks)
        return qkv.unbind(dim=-3)  # q, k, v, each (..., H, ks)

    def forward(self, h: Tensor, mask: Tensor, last: int | None = None) -> Tensor:
        """Attend over (..., T, width) with a boolean mask broadcastable to (..., T, T).

        With ``last``, only the last ``last`` positions attend: (..., last, width).
        """
        # contiguous copies: batched matmuls of the strided views are slower (measured)
        q, k, v = (t.transpose(-2, -3).contiguous() for t in self._heads(h))  # (..., H, T, ks)
        if last is not None:
            q, mask = q[..., -last:, :], mask[..., -last:, :]
        scores = q @ k.transpose(-1, -2)  # (..., H, T, T)
        mask = mask.unsqueeze(-3)  # (..., 1, T, T): the same for every head
        if self.softmax:
            weights = _masked_softmax(scores / math.sqrt(self.key_size), mask)
        else:
            weights = torch.where(mask, scores, 0.0)
        out = _apply_weights(weights, v).transpose(-2, -3)  # (..., T, H, ks)
        return self.proj(out.flatten(-2))  # (..., T, H * ks) -> (..., T, width)

    def ring(self, qkv: Tensor) -> Tensor:
        """Attention of positions on a ring, each over its two neighbours only (p - 1, p + 1).

        Equals ``forward`` with the mask of the cycle 0 - 1 - ... - (N-1) - 0 (N >= 3, no self
        loops), as two products with the rolled keys and values: no N x N scores.

        Args:
            qkv: The queries, keys and values (..., N, 3 * H * ks) of ``self.qkv``.

        Returns:
            The projected outputs (..., N, width).
        """
        q, k, v = qkv.unflatten(-1, (3, self.n_heads, self.key_size)).unbind(-3)  # (.., N, H, ks)
        return self._between(q, (k.roll(1, -3), k.roll(-1, -3)), (v.roll(1, -3), v.roll(-1, -3)))

    def triples(self, qkv: Tensor) -> Tensor:
        """``ring``'s output of a vertex v between neighbours a and c, for every triple (a, v, c).

        Args:
            qkv: The queries, keys and values (..., N, 3 * H * ks) of N vertices.

        Returns:
            (..., N, N, N, width): at [..., a, v, c] what ``ring`` gives any position that holds
            v between a (before) and c (after).
        """
        q, k, v = qkv.unflatten(-1, (3, self.n_heads, self.key_size)).unbind(-3)  # (.., N, H, ks)
        a, c = (-1, 1, 1), (1, 1, -1)  # the vertices before and after, broadcast over the triples
        return self._between(
            q.unflatten(-3, (1, -1, 1)),
            (k.unflatten(-3, a), k.unflatten(-3, c)),
            (v.unflatten(-3, a), v.unflatten(-3, c)),
        )

    def head_features(self, h: Tensor, head_weight: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Queries, keys and values seen through ``proj`` and a head, for ``ring_head``.

        Args:
            h: The attention's inputs (..., width).
            head_weight: (out, width) the weight of a linear head after this attention.

        Returns:
            q and k (..., H * ks) and per head ``head_weight @ proj`` of v (..., H * out).
        """
        n_heads, key_size = self.n_heads, self.key_size
        weights = self.qkv.weight.unflatten(0, (3, n_heads, key_size)).unbind(0)  # (H, ks, w)
        biases = self.qkv.bias.unflatten(0, (3, n_heads, key_size)).unbind(0)  # (H, ks)
        fold = (head_weight @ self.proj.weight).unflatten(1, (n_heads, key_size))  # (out, H, ks)
        value_weight = torch.einsum("ohk,hkw->how", fold, weights[2]).flatten(0, 1)
        value_bias = torch.einsum("ohk,hk->ho", fold, biases[2]).flatten()
        q = F.linear(h, weights[0].flatten(0, 1), biases[0].flatten())
        k = F.linear(h, weights[1].flatten(0, 1), biases[1].flatten())
        return q, k, F.linear(h, value_weight, value_bias)

    def ring_head(self, q: Tensor, k: Tensor, values: Tensor) -> Tensor:
        """``ring``'s output through a head's weight, from ``head_features`` in ring order.

        Args:
            q: The queries (..., N, H * ks) of the N positions on the ring.
            k: Their keys (..., N, H * ks).
            values: Their values through the head (..., N, H * out).

        Returns:
            (..., N, out): ``head_weight @ ring(...)`` without the projection's bias.
        """
        q, k, values = (t.unflatten(-1, (self.n_heads, -1)) for t in (q, k, values))
        keys, rolled = (k.roll(1, -3), k.roll(-1, -3)), (values.roll(1, -3), values.roll(-1, -3))
        return self._attend(q, keys, rolled).sum(-2)

    def _between(
        self, q: Tensor, keys: tuple[Tensor, Tensor], values: tuple[Tensor, Tensor]
    ) -> Tensor:
        """Projected attention of queries (..., H, ks) over two keys and values each."""
        return self.proj(self._attend(q, keys, values).flatten(-2))  # (..., width)

    def _attend(
        self, q: Tensor, keys: tuple[Tensor, Tensor], values: tuple[Tensor, Tensor]
    ) -> Tensor:
        """Attention of queries (..., H, ks) over two keys and values (..., H, F) each."""
        before, after = ((q * k).sum(-1) for k in keys)  # (..., H)
        if self.softmax:
            pair = torch.stack(torch.broadcast_tensors(before, after)) / math.sqrt(self.key_size)
            before, after = pair.softmax(dim=0).unbind(0)
        return before.unsqueeze(-1) * values[0] + after.unsqueeze(-1) * values[1]

    def empty_cache(self, shape: tuple[int, ...], like: Tensor, length: int) -> tuple[Tensor, ...]:
        """Decoding state before any token: (state,) for linear, (keys, values) for softmax.

        The softmax buffers hold `length` positions and are filled in place by `step`.
        """
        if self.softmax:
            keys = like.new_zeros(*shape, self.n_heads, length, self.key_size)  # (..., H, T, ks)
            return keys, torch.zeros_like(keys)
        return (like.new_zeros(*shape, self.n_heads, self.key_size, self.key_size),)

    def step(
        self, h: Tensor, cache: tuple[Tensor, ...], position: int, extra: Tensor | None = None
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """Attend from one new token (..., width) at `position`, which also attends to itself.

        ``extra`` (..., E, width): further inputs the token attends to, kept out of the cache.
        """
        q, k, v = self._heads(h)  # each (..., H, ks)
        if extra is not None:  # (..., H, E, ks) each
            extra_k, extra_v = (t.transpose(-2, -3) for t in self._heads(extra)[1:])
        if self.softmax:
            keys, values = cache
            keys[..., position, :] = k  # the buffers are written in place: O(1) per step
            values[..., position, :] = v
            # attend over the whole buffer with the unwritten positions masked: on a CPU this
            # is faster than matmuls over the slice [: position + 1] (measured)
            unseen = torch.arange(keys.shape[-2], device=keys.device) > position  # (T,)
            if extra is not None:
                keys, values = torch.cat([extra_k, keys], -2), torch.cat([extra_v, values], -2)
                unseen = torch.cat([unseen.new_zeros(extra_k.shape[-2]), unseen])
            scores = q.unsqueeze(-2) @ keys.transpose(-1, -2) / math.sqrt(self.key_size)
            weights = scores.masked_fill(unseen, -math.inf).softmax(dim=-1)  # (..., H, 1, T)
            out = (weights @ values).squeeze(-2)  # (..., H, 1, ks) -> (..., H, ks)
        else:
            state = cache[0]  # (..., H, ks, ks): sum k v^T, updated in place: O(1) per step
            state += k.unsqueeze(-1) * v.unsqueeze(-2)
            if extra is not None:
                state = state + extra_k.transpose(-1, -2) @ extra_v  # not written to the cache
            out = (q.unsqueeze(-2) @ state).squeeze(-2)  # (..., H, 1, ks) -> (..., H, ks)
        return self.proj(out.flatten(-2)), cache  # (..., H * ks) -> (..., width)


class MLP(nn.Module):
    """Position-wise Linear(4 * width) -> GELU -> Linear(width)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc = _linear(width, 4 * width)
        self.proj = _linear(4 * width, width)

    def forward(self, h: Tensor) -> Tensor:
        """Apply the MLP to the last dimension."""
        return self.proj(F.gelu(self.fc(h)))


class Block(nn.Module):
    """A residual attention sub-block and an optional residual MLP sub-block (pre-LN)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        norm = nn.LayerNorm if config.layer_norm else lambda _: nn.Identity()
        self.ln_attn, self.attn = norm(config.width), Attention(config)
        self.ln_mlp = norm(config.width) if config.mlp else None
        self.mlp = MLP(config.width) if config.mlp else None

    def _mlp(self, h: Tensor) -> Tensor:
        return h if self.mlp is None else h + self.mlp(self.ln_mlp(h))

    def forward(self, h: Tensor, mask: Tensor, last: int | None = None) -> Tensor:
        """Transform a whole sequence (..., T, width), or only its ``last`` positions."""
        out = self.attn(self.ln_attn(h), mask, last)
        return self._mlp((h if last is None else h[..., -last:, :]) + out)

    def ring(self, h: Tensor, qkv: Tensor) -> Tensor:
        """Transform positions on a ring (..., N, width), each attending its two neighbours.

        ``qkv``: the attention's features (..., N, 3 * H * ks) of h, computed by the caller
        (``forward_cycle`` computes them once per row of a table before gathering).
        """
        return self._mlp(h + self.attn.ring(qkv))

    def triples(self, h: Tensor) -> Tensor:
        """``ring``'s output of every vertex v between every two neighbours a and c.

        Args:
            h: The inputs (..., N, width) of N vertices.

        Returns:
            (..., N, N, N, width), at [..., a, v, c] for v between a (before) and c (after).
        """
        out = self.attn.triples(self.attn.qkv(self.ln_attn(h)))
        return self._mlp(h.unflatten(-2, (1, -1, 1)) + out)

    def head_features(self, h: Tensor, head: nn.Linear) -> tuple[Tensor, Tensor, Tensor]:
        """What ``ring_logits`` reads of h (..., width) when ``head`` follows this block.

        Only without MLP: the block's output is then linear in its attention's values, and the
        head can act on them before they are mixed (on each row of h, not on each position).

        Returns:
            q and k (..., H * ks); the values through the head (..., H * out) and the head of h
            itself (..., out), concatenated.
        """
        if self.mlp is not None:
            raise ValueError("head_features needs a block without MLP, whose output is linear")
        q, k, values = self.attn.head_features(self.ln_attn(h), head.weight)
        base = F.linear(h, head.weight, head(self.attn.proj.bias))  # the head of h + proj's bias
        return q, k, torch.cat([values, base], -1)

    def ring_logits(self, q: Tensor, k: Tensor, values: Tensor) -> Tensor:
        """``head(ring(h))`` of positions on a ring, from ``head_features`` in ring order."""
        n_outputs = values.shape[-1] // (self.attn.n_heads + 1)
        head = self.attn.ring_head(q, k, values[..., :-n_outputs])
        return values[..., -n_outputs:] + head

    def step(
        self, h: Tensor, cache: tuple[Tensor, ...], position: int, extra: Tensor | None = None
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """Transform one new token (..., width) at `position` given the layer's state.

        ``extra`` (..., E, width): further inputs its attention reads (see ``Attention.step``).
        """
        extra = None if extra is None else self.ln_attn(extra)
        out, cache = self.attn.step(self.ln_attn(h), cache, position, extra)
        return self._mlp(h + out), cache


@dataclass(frozen=True)
class DecodeCache:
    """State of incremental decoding; a pytree whose ``position`` stays static under vmap."""

    policy_seed: Tensor  # (S, ...): the seeds the sequences run under
    # per block (a MemoryProcessor: per round, then block): (state,) linear, (keys, values) softmax
    layers: tuple[tuple[Tensor, ...], ...]
    position: int  # positions consumed so far, a prefix_normal seed token included


pytree.register_pytree_node(
    DecodeCache,
    lambda cache: ([cache.policy_seed, cache.layers], cache.position),
    lambda children, position: DecodeCache(*children, position=position),
)


class SeededTransformer(nn.Module):
    """A transformer A_theta(x, r) that reads its policy seed r through a Random Seed Encoding.

    Args:
        config: The hyperparameters.
        generator: Source of the initial weights; the global RNG is used when None.
    """

    def __init__(self, config: TransformerConfig, generator: torch.Generator | None = None):
        super().__init__()
        self.config = config
        width = config.width
        self.embed = _linear(config.input_dim + config.concat_seed_dim, width)
        self.seed_embed = _linear(config.seed_dim, width) if config.n_prefix else None
        self.embed_mlp = _linear(width, width) if config.embed_mlp else None
        n_positions = config.max_len + config.n_prefix
        if config.positional == "learned":
            self.pos = nn.Parameter(torch.empty(n_positions, width))
        else:  # a fixed table is a buffer, so that it is no parameter of an ES
            table = _sinusoidal(n_positions, width) if config.positional == "sinusoidal" else None
            self.register_buffer("pos", table, persistent=False)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.head = _linear(width, config.output_dim)
        self._init_parameters(generator)
        pool = None
        if config.seed_pool:  # a buffer, so that it follows the model's dtype and device
            pool_generator = torch.Generator().manual_seed(SEED_POOL_GENERATOR_SEED)
            pool = self._draw_policy_seeds(config.seed_pool, pool_generator, config.max_len)
        self.register_buffer("policy_seed_pool", pool, persistent=False)

    @torch.no_grad()
    def _init_parameters(self, generator: torch.Generator | None) -> None:
        """Fan-in truncated normal weights, zero biases, residual projections scaled down."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                _trunc_normal_(module.weight, 1 / math.sqrt(module.in_features), generator)
                nn.init.zeros_(module.bias)
        if isinstance(self.pos, nn.Parameter):
            _trunc_normal_(self.pos, LEARNED_POSITION_STD, generator)
        residual_scale = 1 / (2 * math.sqrt(self.config.n_layers))
        for block in self.blocks:
            block.attn.proj.weight.mul_(residual_scale)
            if block.mlp is not None:
                block.mlp.proj.weight.mul_(residual_scale)

    def sample_policy_seed(
        self, n: int, generator: torch.Generator, length: int | None = None
    ) -> Tensor:
        """Draw n policy seeds for this model's seed mode from ``generator`` only.

        Args:
            n: Number of seeds S.
            generator: The only source of randomness.
            length: Sequence length L; required by ``per_token_uniform``, ignored otherwise.

        Returns:
            ``(n, seed_dim)`` seeds, ``(n, length, seed_dim)`` for ``per_token_uniform`` and
            ``(n, 0)`` for ``none``, in the dtype and on the device of the model; with a seed
            pool, n rows of the pool drawn uniformly (per-token pool seeds have ``max_len``
            steps, of which the first ``length`` are read).
        """
        _check_int("n", n, 1)
        if self.policy_seed_pool is not None:
            index = torch.randint(len(self.policy_seed_pool), (n,), generator=generator)
            return self.policy_seed_pool[index.to(self.policy_seed_pool.device)]
        return self._draw_policy_seeds(n, generator, length)

    def _draw_policy_seeds(self, n: int, generator: torch.Generator, length: int | None) -> Tensor:
        mode, dim = self.config.seed_mode, self.config.seed_dim
        like = {"dtype": self.embed.weight.dtype, "device": self.embed.weight.device}
        if mode == "shared_bits":
            return torch.randint(0, 2, (n, dim), generator=generator, **like)
        if mode == "per_token_uniform":
            if length is None:
                raise ValueError("length=None: per_token_uniform seeds need the sequence length")
            _check_int("length", length, 1)
            return torch.rand(n, length, dim, generator=generator, **like)
        if mode == "prefix_normal":
            return self.config.seed_std * torch.randn(n, dim, generator=generator, **like)
        return torch.empty(n, 0, **like)

    def _check_policy_seed(self, policy_seed: Tensor, length: int) -> None:
        mode, dim = self.config.seed_mode, self.config.seed_dim
        if mode == "per_token_uniform":  # longer seeds are fine: only the first L are read
            ok = policy_seed.dim() == 3 and policy_seed.shape[1] >= length
            ok, expected = ok and policy_seed.shape[2] == dim, f"(S, >= {length}, {dim})"
        else:
            dim = 0 if mode == "none" else dim
            ok, expected = policy_seed.dim() == 2 and policy_seed.shape[1] == dim, f"(S, {dim})"
        if not ok:
            raise ValueError(
                f"policy_seed of shape {tuple(policy_seed.shape)} does not fit seed_mode={mode!r}; "
                f"expected {expected}"
            )

    def _embed_tokens(self, x: Tensor, seed: Tensor) -> Tensor:
        """Linear embedding of [x, seed] without building the concatenation.

        ``x`` is (..., input_dim); ``seed`` is the seed slice for the same tokens, broadcastable
        against x's embedding, or unused for the prefix and none modes.
        """
        weight, bias = self.embed.weight, self.embed.bias
        h = F.linear(x, weight[:, : self.config.input_dim], bias)
        if self.config.concat_seed_dim:
            h = h + F.linear(seed, weight[:, self.config.input_dim :])
        return h

    def _finish_embedding(self, h: Tensor, positions: slice | int) -> Tensor:
        if self.embed_mlp is not None:
            h = self.embed_mlp(F.gelu(h))
        if self.pos is not None:
            h = h + self.pos[positions]
        return h

    def _attention_mask(self, length: int, mask: Tensor | None, device: torch.device) -> Tensor:
        """Config mask AND call-time mask; broadcastable to (*batch, S, T, T), T = L + n_prefix."""
        n_tokens = length + self.config.n_prefix
        allowed = torch.ones(n_tokens, n_tokens, dtype=torch.bool, device=device)
        if self.config.mask == "causal":
            allowed = allowed.tril()
        if mask is None:
            return allowed
        if mask.dtype != torch.bool or mask.dim() < 2 or mask.shape[-2:] != (length, length):
            raise ValueError(
                f"mask of shape {tuple(mask.shape)} and dtype {mask.dtype} is invalid; "
                f"expected a bool tensor (L, L) or (*batch, L, L) with L={length}"
            )
        if self.config.n_prefix:  # all may see the seed token, which sees what the config allows
            top = mask.new_ones(*mask.shape[:-2], 1, n_tokens)  # (*batch, 1, T)
            left = mask.new_ones(*mask.shape[:-2], length, 1)  # (*batch, L, 1)
            mask = torch.cat([top, torch.cat([left, mask], dim=-1)], dim=-2)  # (*batch, T, T)
        return allowed & mask.unsqueeze(-3)  # (*batch, 1, T, T): the same for every seed

    def forward(self, x: Tensor, policy_seed: Tensor, mask: Tensor | None = None) -> Tensor:
        """Run every input under every seed in one batched pass.

        Args:
            x: Raw tokens, (B, L, input_dim); any number of leading batch dims is allowed.
            policy_seed: S seeds, shaped as by ``sample_policy_seed``.
            mask: Optional bool (L, L) or (B, L, L), True = may attend; ANDed with the config's
                mask. A query that may attend to no key gets a zero attention output.

        Returns:
            Logits (B, S, L, output_dim); a prefix seed token's position is dropped.
        """
        return self._logits(x, policy_seed, mask)

    def _check_tokens(self, x: Tensor) -> int:
        """L, the tokens per sequence of x (*batch, L, input_dim); refuses other shapes."""
        length, cfg = x.shape[-2] if x.dim() >= 2 else 0, self.config
        if x.dim() < 2 or x.shape[-1] != cfg.input_dim or not 1 <= length <= cfg.max_len:
            raise ValueError(
                f"x of shape {tuple(x.shape)} is invalid; expected (*batch, L, {cfg.input_dim}) "
                f"with 1 <= L <= max_len={cfg.max_len}"
            )
        return length

    def _embed(self, x: Tensor, policy_seed: Tensor) -> Tensor:
        """Embedded tokens (*batch, S, n_prefix + L, width) of x under every seed."""
        length, width = x.shape[-2], self.config.width
        self._check_policy_seed(policy_seed, length)
        if self.config.seed_mode == "shared_bits":
            seed = policy_seed.unsqueeze(-2)  # (S, 1, seed_dim): the same bits for every token
        else:
            seed = policy_seed[:, :length]  # (S, L, seed_dim) per token; unused otherwise
        h = self._embed_tokens(_distinct(x).unsqueeze(-3), seed)  # (*batch, 1 or S, L, width)
        h = h.expand(*h.shape[:-3], policy_seed.shape[0], length, width)
        if self.seed_embed is not None:
            prefix = self.seed_embed(policy_seed).unsqueeze(-2)  # (S, 1, width)
            h = torch.cat([prefix.expand(*h.shape[:-2], 1, width), h], dim=-2)
        return self._finish_embedding(h, slice(0, h.shape[-2]))

    def _logits(
        self, x: Tensor, policy_seed: Tensor, mask: Tensor | None, last: bool = False
    ) -> Tensor:
        """``forward``, or with ``last`` its logits (*batch, S, 1, output_dim) at position L.

        The last block then attends from the last position only.
        """
        length = self._check_tokens(x)
        h = self._embed(x, policy_seed)
        allowed = self._attention_mask(length, mask, x.device)
        for index, block in enumerate(self.blocks):
            h = block(h, allowed, 1 if last and index == len(self.blocks) - 1 else None)
        logits = self.head(h if last else h[..., self.config.n_prefix :, :])
        return logits.expand(*x.shape[:-2], *logits.shape[-3:])  # (*batch, S, L, output_dim)

    @property
    def factorises(self) -> bool:
        """Whether ``forward_last`` can take its fast path (see there)."""
        cfg = self.config
        plain = cfg.attention == "linear" and not (cfg.mlp or cfg.layer_norm)
        return plain and cfg.positional == "none" and cfg.seed_mode == "shared_bits"

    def forward_last(self, ids: Tensor, vocab: Tensor, policy_seed: Tensor) -> Tensor:
        """Logits at the last position of token sequences given as ids into a vocabulary.

        Equals ``self(vocab[ids], policy_seed)[:, :, -1]``. When ``factorises`` (linear
        attention, no MLP, no LayerNorm, no positional encoding, a seed shared by all tokens:
        the recall preset) it is several times cheaper: the embedding runs once per (seed,
        vocabulary entry), and as the residual stream is then linear in the attention outputs,
        each layer's queries, keys and values are per-seed tables of the vocabulary, gathered,
        plus a linear map of the earlier layers' attention outputs. Nothing of the model width
        is computed per position, and the last layer attends from the last position only.
        Otherwise it is the full forward pass, whose last block attends from the last position
        only.

        Args:
            ids: (B, L) int64 indices into ``vocab``.
            vocab: (V, input_dim) raw tokens.
            policy_seed: S seeds, shaped as by ``sample_policy_seed``.

        Returns:
            Logits (B, S, output_dim).
        """
        if vocab.dim() != 2 or vocab.shape[-1] != self.config.input_dim:
            raise ValueError(
                f"vocab of shape {tuple(vocab.shape)} is invalid; "
                f"expected (V, {self.config.input_dim})"
            )
        if ids.dim() != 2 or ids.dtype != torch.int64:
            raise ValueError(
                f"ids of shape {tuple(ids.shape)} and dtype {ids.dtype} is invalid; "
                "expected int64 (B, L)"
            )
        checkable = ids.numel() and not torch.compiler.is_compiling()  # no graph break
        if checkable and not 0 <= int(ids.min()) <= int(ids.max()) < vocab.shape[0]:
            raise ValueError(f"ids must lie in [0, {vocab.shape[0]}) for a vocab of that size")
        if not self.factorises or not 1 <= ids.shape[1] <= self.config.max_len:
            return self._logits(vocab[ids], policy_seed, None, last=True)[:, :, -1]
        self._check_policy_seed(policy_seed, ids.shape[1])
        return self._factorised_last(ids, vocab, policy_seed)

    def _factorised_last(self, ids: Tensor, vocab: Tensor, policy_seed: Tensor) -> Tensor:
        """The fast path of ``forward_last``.

        After j blocks the residual stream is ``h0 + sum_i (P_i o_i + b_i)`` (o_i: block i's
        attention output, P_i and b_i its projection), so block j's queries, keys and values
        are ``W_j (h0 + sum_i b_i) + c_j``, a table over (seed, vocabulary entry), plus
        ``sum_i (W_j P_i) o_i``: only ``3 * H * ks`` features per position.
        """
        n_seeds, n_vocab = policy_seed.shape[0], vocab.shape[0]
        table = self._finish_embedding(self._embed_tokens(vocab, policy_seed.unsqueeze(-2)), 0)
        table = table.flatten(0, 1)  # (S, V, width) -> (S * V, width): h0 of each (seed, id)
        offsets = n_vocab * torch.arange(n_seeds, device=ids.device)  # (S,)
        rows = ids.unsqueeze(-2) + offsets.unsqueeze(-1)  # (B, S, L): rows of the table
        flat_rows = rows.flatten()  # index_select has a much cheaper backward than embedding

        def gather(rows_table: Tensor) -> Tensor:  # (S * V, F) -> (B, S, L, F)
            return rows_table.index_select(0, flat_rows).unflatten(0, rows.shape)

        h = table.index_select(0, rows[..., -1].flatten()).unflatten(0, rows.shape[:-1])
        causal = torch.ones(ids.shape[1], ids.shape[1], dtype=torch.bool, device=ids.device)
        causal = causal.tril()  # (L, L): masks by torch.where, cheaper than Tensor.tril
        outputs: list[Tensor] = []  # attention outputs of the blocks so far, each (B, S, L, H*ks)
        bias = table.new_zeros(self.config.width)  # sum of the output-projection biases so far
        for index, block in enumerate(self.blocks):
            attn, last = block.attn, index == len(self.blocks) - 1
            n_q = attn.n_heads * attn.key_size if last else 0  # the last query comes from h
            weight, weight_bias = attn.qkv.weight[n_q:], attn.qkv.bias[n_q:]
            features = gather(F.linear(table + bias, weight, weight_bias))  # (B, S, L, F)
            for out, earlier in zip(outputs, self.blocks, strict=False):  # an inner dim H * ks
                features = features + _small_product(out, (weight @ earlier.attn.proj.weight).mT)
            if last:
                q = attn.qkv(h)[..., :n_q].unflatten(-1, (attn.n_heads, -1))  # (B, S, H, ks)
                k, v = features.unflatten(-1, (2, attn.n_heads, -1)).unbind(-3)  # (B,S,L,H,ks)
                scores = (q.unsqueeze(-3) * k).sum(-1)  # (B, S, L, H)
                out = (scores.unsqueeze(-1) * v).sum(-3)  # (B, S, H, ks)
                h = h + attn.proj(out.flatten(-2))
                break
            qkv = features.unflatten(-1, (3, attn.n_heads, attn.key_size))  # (B, S, L, 3, H, ks)
            # contiguous operands: eager batched matmuls of strided views are slower (measured)
            q, k, v = (t.transpose(-2, -3).contiguous() for t in qkv.unbind(-3))  # (B,S,H,L,ks)
            scores = _small_product(q, k.transpose(-1, -2))  # (B, S, H, L, L)
            if self.config.mask == "causal":
                scores = torch.where(causal, scores, 0.0).contiguous()
            out = _small_product(scores, v)  # (B, S, H, L, ks)
            out = out.transpose(-2, -3).flatten(-2).contiguous()  # (B, S, L, H * ks)
            outputs.append(out)
            h = h + attn.proj(out[..., -1, :])
            bias = bias + attn.proj.bias
        return self.head(h)  # (B, S, output_dim)

    @property
    def rings(self) -> bool:
        """Whether ``forward_cycle`` can take its fast path (see there)."""
        return self.config.mask == "none" and self.config.n_prefix == 0

    def forward_cycle(self, order: Tensor, vocab: Tensor, policy_seed: Tensor) -> Tensor:
        """Logits of cycle graphs whose vertex v is the token ``vocab[v]``, in cycle order.

        Graph b is the cycle ``order[b, 0] - order[b, 1] - ... - order[b, N-1] - order[b, 0]``
        and is the attention mask: each vertex attends its two neighbours. Equals
        ``self(vocab.expand(B, N, -1), policy_seed, mask=adjacency)`` with that cycle's
        adjacency, its rows taken in the cycle's order. When ``rings`` (no config mask, no
        prefix seed token), the embedding and the first block's queries, keys and values run
        once per (seed, vertex), then the vertices go in cycle order, where a vertex's
        neighbours are the positions before and after it, so every attention is two products
        with rolled keys and values (``Attention.ring``) instead of an N x N masked one:
        elementwise work that ``torch.compile`` fuses (with the steps below, a compiled
        coloring training step about 4x faster; eager, no faster). After the first block a
        vertex depends only on itself and its two neighbours, so when the B graphs hold more
        positions than there are triples (B > N^2), the first block runs once per (seed,
        triple) (``Block.triples``) and the positions read their triple's row. When the last
        block has no MLP, the head acts on its inputs' values once per row, before the
        attention mixes them (``Block.head_features``): each position then reads its row's
        queries, keys and head-sized values, not whole features. Otherwise it is the full
        forward pass.

        Args:
            order: (B, N) int64, each row a permutation of the N >= 3 vertices.
            vocab: (N, input_dim) the vertices' raw tokens.
            policy_seed: S seeds, shaped as by ``sample_policy_seed``.

        Returns:
            Logits (B, S, N, output_dim) in cycle order: row p for vertex ``order[b, p]``.
        """
        n_vertices = vocab.shape[0] if vocab.dim() == 2 else 0
        if vocab.dim() != 2 or vocab.shape[-1] != self.config.input_dim or n_vertices < 3:
            raise ValueError(
                f"vocab of shape {tuple(vocab.shape)} is invalid; "
                f"expected (N, {self.config.input_dim}) with N >= 3"
            )
        if order.dim() != 2 or order.dtype != torch.int64 or order.shape[1] != n_vertices:
            raise ValueError(
                f"order of shape {tuple(order.shape)} and dtype {order.dtype} is invalid; "
                f"expected int64 (B, {n_vertices})"
            )
        everyone = torch.arange(n_vertices, device=order.device)
        if not torch.compiler.is_compiling() and not (order.sort(-1).values == everyone).all():
            raise ValueError("every row of order must be a permutation of the vertices")
        if not self.rings:
            mask = torch.from_numpy(adjacency_from_orders(order.cpu().numpy()) != 0)
            tokens = vocab.expand(order.shape[0], -1, -1)
            return in_cycle_order(self(tokens, policy_seed, mask=mask.to(vocab.device)), order)
        h = self._embed(vocab, policy_seed)  # (S, N, width): vertex v under seed s
        blocks, rows = list(self.blocks), order  # rows: the row of h each position reads
        if n_vertices**2 < order.shape[0]:  # fewer (seed, triple) rows than positions
            # after one block a vertex depends only on itself and its two neighbours
            h = blocks.pop(0).triples(h).flatten(-4, -2)  # (S, N^3, width)
            rows = (order.roll(1, -1) * n_vertices + order) * n_vertices + order.roll(-1, -1)
        offsets = h.shape[1] * torch.arange(h.shape[0], device=order.device)  # (S,)
        index = rows.unsqueeze(-2) + offsets.unsqueeze(-1)  # (B, S, N): rows of (S * R, F)

        def rows_in_cycle_order(table: Tensor) -> Tensor:  # (S, R, F), rows as h's -> (B, S, N, F)
            return table.flatten(0, 1).index_select(0, index.flatten()).unflatten(0, index.shape)

        last = blocks.pop() if blocks and blocks[-1].mlp is None else None  # folds the head
        by_row = True  # h is a table of rows, not yet positions
        for block in blocks:  # the block's queries, keys and values once per row of h, too
            qkv = block.attn.qkv(block.ln_attn(h))
            if by_row:
                h, qkv, by_row = rows_in_cycle_order(h), rows_in_cycle_order(qkv), False
            h = block.ring(h, qkv)
        if last is not None:
            features = last.head_features(h, self.head)
            logits = last.ring_logits(*map(rows_in_cycle_order, features) if by_row else features)
        else:
            h = rows_in_cycle_order(h) if by_row else h
            logits = _SmallMatmul.apply(h, self.head.weight.mT) + self.head.bias  # a narrow head
        return logits

    def init_cache(self, batch_shape: int | tuple[int, ...], policy_seed: Tensor) -> DecodeCache:
        """Start incremental decoding of batch_shape x S sequences (causal mask only).

        Args:
            batch_shape: Leading dims of the tokens that ``step`` will get, before the seed dim.
            policy_seed: S seeds, shaped as by ``sample_policy_seed``.

        Returns:
            The cache, with a prefix_normal seed token already consumed.
        """
        if self.config.mask != "causal":
            raise ValueError(f"mask={self.config.mask!r}: incremental decoding needs 'causal'")
        self._check_policy_seed(policy_seed, 1)
        batch_shape = (batch_shape,) if isinstance(batch_shape, int) else tuple(batch_shape)
        shape = (*batch_shape, policy_seed.shape[0])  # (*batch, S)
        cache = DecodeCache(policy_seed, self._empty_layers(shape), 0)
        if self.seed_embed is not None:
            prefix = self.seed_embed(policy_seed).expand(*shape, self.config.width)
            _, cache = self._advance(prefix, cache)
        return cache

    def _empty_layers(self, shape: tuple[int, ...]) -> tuple[tuple[Tensor, ...], ...]:
        """``DecodeCache.layers`` before any token, for sequences (*batch, S) = ``shape``."""
        length = self.config.max_len + self.config.n_prefix
        return tuple(
            block.attn.empty_cache(shape, self.head.weight, length) for block in self.blocks
        )

    def _advance(self, h: Tensor, cache: DecodeCache) -> tuple[Tensor, DecodeCache]:
        """Push one embedded token (*batch, S, width) through all blocks."""
        h = self._finish_embedding(h, cache.position)
        h, layers = self._step_blocks(h, cache.layers, cache.position)
        return h, DecodeCache(cache.policy_seed, layers, cache.position + 1)

    def _step_blocks(
        self,
        h: Tensor,
        layers: tuple[tuple[Tensor, ...], ...],
        position: int,
        extra: Tensor | None = None,
    ) -> tuple[Tensor, tuple[tuple[Tensor, ...], ...]]:
        """One token's state (*batch, S, width) through the blocks, each with its cache.

        ``extra`` (*batch, S, E, width): inputs that every block's attention also reads.
        """
        updated = []
        for block, layer in zip(self.blocks, layers, strict=True):
            h, layer = block.step(h, layer, position, extra)
            updated.append(layer)
        return h, tuple(updated)

    def step(self, token: Tensor, cache: DecodeCache) -> tuple[Tensor, DecodeCache]:
        """Feed one new token per sequence; O(context) per call.

        Args:
            token: (*batch, S, input_dim): the next raw token of each (input, seed) sequence.
            cache: From ``init_cache`` or the previous ``step``.

        Returns:
            Logits (*batch, S, output_dim) at the new position, and the updated cache.
        """
        index = cache.position - self.config.n_prefix  # of the new token among the inputs
        n_seeds = cache.policy_seed.shape[0]
        if token.dim() < 2 or token.shape[-2:] != (n_seeds, self.config.input_dim):
            raise ValueError(
                f"token of shape {tuple(token.shape)} is invalid; "
                f"expected (*batch, S={n_seeds}, {self.config.input_dim})"
            )
        if index >= self.config.max_len:
            raise ValueError(f"step at token {index}: beyond max_len={self.config.max_len}")
        seed = cache.policy_seed
        if self.config.seed_mode == "per_token_uniform":
            if index >= seed.shape[1]:
                raise ValueError(f"step at token {index}: per-token seeds end at {seed.shape[1]}")
            seed = seed[:, index]  # (S, seed_dim)
        h, cache = self._advance(self._embed_tokens(token, seed), cache)
        return self.head(h), cache
