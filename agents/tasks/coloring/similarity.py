"""Similar colorings: the same labelled cycle, presented in another order or with other ids.

A coloring input is a presentation: the vertex id at each token position and the adjacency
between positions. Two presentations are similar when they show the same labelled cycle up to
an order-preserving change of ids (``similar``): an algorithm that reads only the graph and
compares ids (greedy by id, Cole-Vishkin) then takes the same steps on both, vertex by
vertex. All cycles C_N are isomorphic, so isomorphism alone would make every pair similar.

The env's ids are one-hot tokens e_0 .. e_{N-1}, so the only order-preserving change of them
is the identity: the generator (``similar_views``) presents each cycle of a batch with its
vertex tokens in one random order (the same for the batch, so that per-token policy seeds,
shared by the batch, can move with their vertices).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from agents.tasks.base import Batch
from agents.tasks.coloring.player import vertex_tokens
from agents.tasks.similarity import SimilarViews


def labelled_edges(ids: Tensor, adjacency: Tensor) -> frozenset[tuple[int, int]]:
    """The edges of a presentation as pairs of id ranks (ids changed order-preservingly agree).

    Args:
        ids: (L,) distinct vertex ids at the token positions.
        adjacency: (L, L) bool between positions (either orientation marks an edge).
    """
    rank = ids.argsort().argsort()  # (L,): the rank of each position's id
    pairs = rank[(adjacency | adjacency.T).nonzero()].tolist()  # (E, 2) ranks of linked ends
    return frozenset((min(a, b), max(a, b)) for a, b in pairs if a != b)


def similar(ids_a: Tensor, adjacency_a: Tensor, ids_b: Tensor, adjacency_b: Tensor) -> bool:
    """Whether two presentations show the same labelled graph up to order-preserving ids."""
    return labelled_edges(ids_a, adjacency_a) == labelled_edges(ids_b, adjacency_b)


def reordered(adjacency: Tensor, order: Tensor) -> Tensor:
    """The adjacency (..., L, L) of a presentation whose position i shows position order[i]."""
    return adjacency[..., order, :][..., :, order]


def similar_views(batch: Batch, rng: np.random.Generator) -> SimilarViews:
    """The batch's cycles and the same cycles with their vertex tokens in one random order."""
    adjacency = batch["adjacency"]  # (B, N, N)
    n_graphs, n_vertices = adjacency.shape[:2]
    order = torch.from_numpy(rng.permutation(n_vertices))
    tokens = vertex_tokens(n_graphs, n_vertices)  # (B, N, N), broadcast over the batch
    return SimilarViews(
        tokens=tokens,
        mask=adjacency,
        partner_tokens=tokens[0, order].expand(n_graphs, -1, -1),  # position i shows e_order[i]
        partner_mask=reordered(adjacency, order),
        order=order,
        compared=torch.arange(n_vertices),
    )
