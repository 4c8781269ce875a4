"""The contrastive idea loss: similar inputs think alike round by round, dissimilar ones not.

For inputs X_1 .. X_n with ideas ``M_t^{X_i}`` (one vector per round t) and one similar
partner ``X'_i`` each, the score of a pair is ``s_ij = sum_t phi(M_t^{X_i}, M_t^{X'_j})`` with
``phi(a, b) = cos(a, b) / temperature``. Each X_i has the positive X'_i and, as dissimilar
inputs, the partners of the rest of the batch:

    L = - mean_i log( exp(s_ii) / (exp(s_ii) + sum_{j != i} exp(s_ij)) )

(the issue's sum over X, divided by the batch size so that the weight of the loss does not
depend on it). It is pure and batched: leading dims (e.g. one per policy seed) are averaged.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor

DEFAULT_TEMPERATURE = 0.1


def idea_scores(ideas: Tensor, partner_ideas: Tensor, temperature: float) -> Tensor:
    """The pair scores ``s_ij = sum_t cos(M_t^{X_i}, M_t^{X'_j}) / temperature``, (..., n, n).

    Args:
        ideas: (..., n, T, D): the ideas of n inputs in T rounds.
        partner_ideas: (..., n, T, D): those of their similar partners, in the same order.
        temperature: phi's temperature, > 0.
    """
    if ideas.shape != partner_ideas.shape or ideas.dim() < 3:
        raise ValueError(
            f"ideas {tuple(ideas.shape)} and partner_ideas {tuple(partner_ideas.shape)} are "
            "invalid; expected the same shape (..., n, T, D)"
        )
    if not 0 < temperature < math.inf:
        raise ValueError(f"temperature={temperature!r} is invalid; expected a positive number")
    a = F.normalize(ideas, dim=-1).transpose(-2, -3)  # (..., T, n, D)
    b = F.normalize(partner_ideas, dim=-1).transpose(-2, -3)
    return (a @ b.transpose(-1, -2)).sum(dim=-3) / temperature  # (..., n, n)


def idea_loss(
    ideas: Tensor, partner_ideas: Tensor, temperature: float = DEFAULT_TEMPERATURE
) -> Tensor:
    """The contrastive idea loss of the module docstring, a scalar.

    Args:
        ideas: (..., n, T, D): the ideas of n inputs in T rounds.
        partner_ideas: (..., n, T, D): those of their similar partners, in the same order;
            partner j != i is dissimilar to input i.
        temperature: phi's temperature, > 0.
    """
    scores = idea_scores(ideas, partner_ideas, temperature)
    return -scores.log_softmax(dim=-1).diagonal(dim1=-2, dim2=-1).mean()
