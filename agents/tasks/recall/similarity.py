"""Similar recall inputs: sequences that differ only in the values that are not queried.

An algorithm that stores values and looks the queried one up answers both alike: same query,
same queried value; the other values are free (``similar``). The generator
(``similar_views``) redraws every unqueried value; the ideas compared are those of the query
position, where the answer is formed.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from agents.tasks.base import Batch
from agents.tasks.similarity import SimilarViews


def queried(ids: Tensor, n_pairs: int, value_bits: int) -> tuple[Tensor, Tensor]:
    """The query index (B,) and the id of the queried (key, value) token (B,) of id rows."""
    query = ids[:, -1] - n_pairs * 2**value_bits
    return query, ids.gather(1, query[:, None]).squeeze(1)


def similar(ids_a: Tensor, ids_b: Tensor, n_pairs: int, value_bits: int) -> Tensor:
    """Whether id rows (B, N + 1) agree in the query and the queried value, (B,) bool."""
    query_a, value_a = queried(ids_a, n_pairs, value_bits)
    query_b, value_b = queried(ids_b, n_pairs, value_bits)
    return (query_a == query_b) & (value_a == value_b)


def redraw_unqueried(
    ids: Tensor, n_pairs: int, value_bits: int, rng: np.random.Generator
) -> Tensor:
    """Id rows (B, N + 1) with every value but the queried one drawn afresh."""
    values = torch.from_numpy(rng.integers(0, 2**value_bits, (ids.shape[0], n_pairs)))
    fresh = torch.arange(n_pairs) * 2**value_bits + values  # (B, N)
    query, _ = queried(ids, n_pairs, value_bits)
    keep = torch.arange(n_pairs) == query[:, None]  # (B, N): the queried position
    return torch.cat([torch.where(keep, ids[:, :n_pairs], fresh), ids[:, n_pairs:]], dim=1)


def similar_views(
    batch: Batch, rng: np.random.Generator, vocab: Tensor, n_pairs: int, value_bits: int
) -> SimilarViews:
    """The batch's sequences and the same with fresh unqueried values, as tokens of ``vocab``."""
    ids = batch["ids"]  # (B, N + 1)
    partner = redraw_unqueried(ids, n_pairs, value_bits, rng)
    length = ids.shape[1]
    return SimilarViews(
        tokens=vocab[ids],
        mask=None,
        partner_tokens=vocab[partner],
        partner_mask=None,
        order=torch.arange(length),
        compared=torch.tensor([length - 1]),
    )
