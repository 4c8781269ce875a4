"""Similar inputs for the contrastive idea loss: a classical algorithm takes the same steps.

A task's similar-pair generator (``agents.tasks.<task>.similarity``) returns ``SimilarViews``:
the model inputs of a batch and of one similar partner per input. The partner may present the
tokens in another order: its position i holds the batch's position ``order[i]`` (a per-token
policy seed moves with its token), and ideas are compared after undoing that order, at the
positions ``compared``. Inputs of the batch other than an input's partner are dissimilar.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class SimilarViews:
    """Model inputs of a batch and of a similar partner for each of its inputs."""

    tokens: Tensor  # (B, L, input_dim): the batch's raw tokens
    mask: Tensor | None  # (B, L, L) bool attention mask, or None
    partner_tokens: Tensor  # (B, L, input_dim): the partners' raw tokens
    partner_mask: Tensor | None  # (B, L, L) bool, or None
    order: Tensor  # (L,) int64: the partners' position i presents the batch's position order[i]
    compared: Tensor  # (P,) int64: the positions (of the batch's order) whose ideas are compared
