"""The q-norm objective (paper eq. 5) and the per-sample losses of the supervised tasks.

All functions are pure and batched; they avoid data-dependent Python branches, so they also
run under ``torch.func.vmap``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def q_norm(losses: Tensor, q: float) -> Tensor:
    """The q-norm over inputs of the seed-averaged loss, ``(mean_i (mean_j L_ij)^q)^(1/q)``.

    Computed in the normalised form ``max(l) * (mean_i (l_i / max l)^q)^(1/q)`` with
    ``l_i = mean_j L_ij``, which neither overflows nor underflows for large q; the result is 0
    when ``max l = 0`` (with zero gradients). ``q = 1`` is the mean (ERM) and ``q = math.inf``
    the max (min-max). The gradient is exact: the normaliser ``max l`` is a constant of the
    formula (it is homogeneous of degree 1), so it is detached.

    Args:
        losses: Non-negative losses (n, m) of n inputs under m seeds.
        q: The exponent, ``1 <= q <= inf``.

    Returns:
        A scalar tensor.

    Raises:
        ValueError: If q < 1 or is NaN, or losses is not 2-D.
    """
    if not q >= 1:  # also catches NaN
        raise ValueError(f"q={q!r} is invalid; expected 1 <= q <= math.inf")
    if losses.dim() != 2:
        raise ValueError(f"losses of shape {tuple(losses.shape)} is invalid; expected (n, m)")
    per_input = losses.mean(dim=1)  # (n,): the seed-averaged loss of each input
    if q == 1:
        return per_input.mean()
    if math.isinf(q):
        return per_input.max()
    top = per_input.detach().max()
    positive = top > 0
    # with all losses 0, use ratio 1 instead of 0 so that no 0 ** (1/q - 1) reaches the gradient
    ratio = torch.where(positive, per_input / torch.where(positive, top, 1.0), 1.0)
    return top * ratio.pow(q).mean().pow(1 / q)


def recall_loss(logits: Tensor, bits: Tensor) -> Tensor:
    """The associative-recall loss: binary cross-entropy with logits, summed over bits.

    Args:
        logits: (..., d) one logit per value bit.
        bits: (..., d) target bits in {0, 1}, broadcastable to ``logits`` (e.g. (B, 1, d)
            against logits (B, S, d) of S seeds).

    Returns:
        The loss (...,) with the shape of ``logits`` without its last dim.
    """
    if logits.shape[-1:] != bits.shape[-1:]:
        raise ValueError(
            f"logits {tuple(logits.shape)} and bits {tuple(bits.shape)} differ in the bit dim"
        )
    bits = bits.to(logits.dtype).expand_as(logits)  # (..., d)
    return F.binary_cross_entropy_with_logits(logits, bits, reduction="none").sum(dim=-1)


def coloring_loss(logits: Tensor, adjacency: Tensor) -> Tensor:
    """The partial-coloring loss ``sum_{u<v, (u,v) in E} sum_c P(u=c) P(v=c)``, P = softmax.

    It is the expected number of monochromatic edges when every vertex samples its color from
    its own softmax; a proper coloring with confident logits gives ~0, all vertices certain of
    the same color give the number of edges.

    Broadcasting: the leading dims of ``adjacency`` broadcast against those of ``logits`` by the
    usual right-aligned rule. For logits (B, S, N, C) of B graphs under S seeds, pass adjacency
    (B, 1, N, N), i.e. ``adjacency[:, None]``; a single graph (N, N) serves every batch element.

    Args:
        logits: (..., N, C) color logits of N vertices.
        adjacency: (..., N, N) bool or 0/1; an edge is {u, v} with ``adjacency[u, v]`` or
            ``adjacency[v, u]`` set (either orientation suffices), self loops are ignored.

    Returns:
        The loss with the broadcast leading dims of ``logits`` and ``adjacency``.
    """
    n_vertices = logits.shape[-2] if logits.dim() >= 2 else None
    if adjacency.dim() < 2 or adjacency.shape[-2:] != (n_vertices, n_vertices):
        raise ValueError(
            f"adjacency of shape {tuple(adjacency.shape)} is invalid for logits of shape "
            f"{tuple(logits.shape)}; expected (..., {n_vertices}, {n_vertices})"
        )
    probs = logits.softmax(dim=-1)  # (..., N, C)
    same = probs @ probs.transpose(-1, -2)  # (..., N, N): P(color u == color v)
    linked = adjacency != 0
    edges = torch.triu(linked | linked.transpose(-1, -2), diagonal=1)  # each edge once, u < v
    return (same * edges).sum(dim=(-1, -2))
