"""The q-norm objective: a relaxation between the average (q = 1) and the worst case (q = inf).

It is pure and batched, without data-dependent Python branches, so it also runs under
``torch.func.vmap``; the per-sample losses belong to the tasks (``agents.tasks``).
"""

from __future__ import annotations

import math

import torch
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
