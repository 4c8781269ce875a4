"""Distributed 3-coloring of cycles as a supervised task (paper-spec section 3.2).

Vertex tokens are one-hot ids; the model concatenates each vertex's own U[0, 1] seed; the
adjacency is the attention mask (a vertex sees only its two neighbours, itself through the
residual stream); every vertex outputs 3 color logits. Success is a proper argmax coloring.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from agents.models.presets import preset
from agents.models.transformer import SeededTransformer, TransformerConfig
from agents.supervised.qnorm import coloring_loss
from randgym.envs.graph_coloring.cycles import cycle_orders
from randgym.envs.graph_coloring.generator import CycleGenerator

Batch = dict[str, Tensor]  # a batch of instances as named tensors, first dim the instances
N_COLORS = 3


class ColoringTask:
    """3-coloring of a uniformly random Hamiltonian cycle on ``n_vertices`` labelled vertices.

    Args:
        n_vertices: N, the cycle length (10 in the paper: C_10).
    """

    name = "coloring"

    def __init__(self, n_vertices: int = 10) -> None:
        self.generator = CycleGenerator(n_vertices)
        self.n_vertices = n_vertices
        self.policy_seed_length = n_vertices  # one U[0, 1] seed per vertex token

    @property
    def spec(self) -> dict[str, Any]:
        """What identifies the task in a checkpoint."""
        return {"name": self.name, "n_vertices": self.n_vertices}

    def model_config(self, **overrides: Any) -> TransformerConfig:
        """The paper-sized model (``preset("coloring")``) for this N, with field overrides."""
        return preset("coloring", n_vertices=self.n_vertices, **overrides)

    def batch(self, adjacency: np.ndarray) -> Batch:
        """Tensors of cycles (n, N, N) 0/1.

        Returns:
            ``{"adjacency": (n, N, N) bool, "order": (n, N) int64}``; the order is the vertex
            sequence around each cycle (used by ``sampled_success``).
        """
        orders, _ = cycle_orders(adjacency)
        return {"adjacency": torch.from_numpy(adjacency != 0), "order": torch.from_numpy(orders)}

    def sample(self, rng: np.random.Generator, n: int) -> Batch:
        """``n`` fresh uniform cycles from the env generator's batch sampler."""
        return self.batch(self.generator.sample_batch(rng, n))

    def evaluation_set(self, rng: np.random.Generator | None = None) -> Batch:
        """All (N-1)!/2 cycles (181,440 for N = 10), in the generator's numbering."""
        del rng  # the set is enumerated, not sampled
        return self.batch(self.generator.cycles_from_indices(np.arange(self.num_instances)))

    @property
    def num_instances(self) -> int:
        """The number of distinct cycles."""
        return self.generator.num_instances

    def tokens(self, batch: Batch) -> Tensor:
        """The raw tokens (n, N, N): vertex v is the one-hot id e_v."""
        n = batch["adjacency"].shape[0]
        return torch.eye(self.n_vertices).expand(n, self.n_vertices, self.n_vertices)

    def logits(self, model: SeededTransformer, batch: Batch, policy_seed: Tensor) -> Tensor:
        """Color logits (B, S, N, 3) with the adjacency as the attention mask."""
        tokens = self.tokens(batch).to(model.head.weight)
        return model(tokens, policy_seed, mask=batch["adjacency"].to(tokens.device))

    def loss(self, logits: Tensor, batch: Batch) -> Tensor:
        """The partial-coloring loss (expected monochromatic edges), (B, S)."""
        return coloring_loss(logits, batch["adjacency"].unsqueeze(1))

    def predict(self, logits: Tensor) -> Tensor:
        """The argmax coloring (B, S, N) int64."""
        return logits.argmax(dim=-1)

    def correct(self, prediction: Tensor, batch: Batch) -> Tensor:
        """Whether colorings (B, K, N) are proper (no monochromatic edge), (B, K) bool."""
        same = prediction.unsqueeze(-1) == prediction.unsqueeze(-2)  # (B, K, N, N)
        return ~(same & batch["adjacency"].unsqueeze(1)).any(dim=(-1, -2))

    def vote(self, prediction: Tensor, dim: int) -> Tensor:
        """The statistical mode of whole colorings along ``dim`` (the smallest on ties).

        Args:
            prediction: Colorings (..., N) with the voters along ``dim`` (not the last dim).
            dim: The voters' dimension; it is kept with size 1.
        """
        powers = N_COLORS ** torch.arange(self.n_vertices, device=prediction.device)  # (N,)
        codes = (prediction * powers).sum(dim=-1)  # (...): each coloring as one number
        mode = codes.mode(dim=dim, keepdim=True).values  # (..., 1, ...) without N
        return mode.unsqueeze(-1) // powers % N_COLORS  # back to colorings (..., N)

    def sampled_success(self, logits: Tensor, batch: Batch) -> Tensor:
        """P(proper) when every vertex samples its color from its softmax, (B, S), exact.

        For the cycle ``o_0 - o_1 - ... - o_{N-1} - o_0`` it is ``trace(prod_i D_i J)`` with
        ``D_i = diag(p_{o_i})`` and ``J = 1 - I`` (adjacent colors differ); ``M D J`` is computed
        as ``rowsum(M D) - M D`` (tiny batched matmuls are slow on a CPU).
        """
        probs = logits.softmax(dim=-1)  # (B, S, N, C)
        order = batch["order"][:, None, :, None].expand(-1, probs.shape[1], -1, N_COLORS)
        around = probs.gather(-2, order)  # (B, S, N, C): vertices in cycle order
        product = torch.eye(N_COLORS, dtype=probs.dtype).expand(*probs.shape[:2], -1, -1)
        for i in range(self.n_vertices):
            scaled = product * around[..., i, None, :]  # (B, S, C, C): M D_i
            product = scaled.sum(dim=-1, keepdim=True) - scaled  # M D_i J
        return product.diagonal(dim1=-2, dim2=-1).sum(dim=-1)

    def probabilities(self, logits: Tensor) -> Tensor:
        """The predictive probabilities (B, S, N * 3) of every vertex's colors."""
        return logits.softmax(dim=-1).flatten(-2)
