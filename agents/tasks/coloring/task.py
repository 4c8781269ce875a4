"""Distributed 3-coloring of cycles (`RandAlg/GraphColoring-v0`) as a supervised task.

Vertex tokens are one-hot ids; the model concatenates each vertex's own U[0, 1] seed; the
adjacency is the attention mask (a vertex sees only its two neighbours, itself through the
residual stream); every vertex outputs 3 color logits. Success is a proper argmax coloring.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import Tensor

from agents.baselines.coloring import GreedyById, LocalExtremes, RandomTrials, batch_returns
from agents.models.transformer import SeededTransformer, in_cycle_order
from agents.tasks.base import Baseline, Batch, SupervisedTask
from agents.tasks.coloring import similarity
from agents.tasks.coloring.player import ColoringPlayer, vertex_tokens
from agents.tasks.similarity import SimilarViews
from randgym.envs.graph_coloring import adjacency_from_orders, cycle_orders, orders_of_sequences

N_COLORS = 3
QUICK_INSTANCES = 8192  # random cycles in the quick evaluation set of training logs


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


def cycle_coloring_loss(logits: Tensor) -> Tensor:
    """``coloring_loss`` of cycles whose logits are in cycle order: the edges join neighbours.

    Args:
        logits: (B, S, N, C) color logits; position p of graph b is next to p - 1 and p + 1,
            and the last position is next to the first.

    Returns:
        The loss (B, S), without the N x N products of ``coloring_loss``.
    """
    around = logits.softmax(dim=-1)
    return (around * around.roll(-1, dims=-2)).sum(dim=(-1, -2))


class ColoringTask(SupervisedTask):
    """3-coloring of a uniformly random Hamiltonian cycle on ``n_vertices`` labelled vertices.

    Args:
        n_vertices: N, the cycle length (10 in the paper: C_10).
    """

    name = "coloring"
    env_id = "RandAlg/GraphColoring-v0"
    size_kwarg = "n_vertices"
    presets = {
        # the public re-implementation's 2-layer linear-attention model (the paper's Table 2
        # describes positions, MLP and LayerNorm too); the adjacency is the call-time mask
        "paper": dict(
            width=16, n_layers=2, n_heads=1, key_size=16, attention="linear", mlp=False,
            layer_norm=False, embed_mlp=False, positional="none", mask="none",
            seed_mode="per_token_uniform", seed_dim=1,
        ),
        # the paper's Table 2 read literally where it can be: width ("token size") 16 = key
        # size, pre-LN, MLP blocks, sinusoidal positions (tokens come in vertex-id order, so
        # they repeat the ids), 2 layers, 1 head; the table leaves the attention open: linear as
        # in the public code; a linear map of the raw token [id, seed] to width 16 (docs/paper.md)
        "paper_tables": dict(
            width=16, n_layers=2, n_heads=1, key_size=16, attention="linear", mlp=True,
            layer_norm=True, embed_mlp=False, positional="sinusoidal", mask="none",
            seed_mode="per_token_uniform", seed_dim=1,
        ),
    }  # fmt: skip
    # the paper_tables blocks as a MemoryProcessor (agents.models.memory): 4 rounds with a
    # memory of ideas (results/memory compares T = 1..6 on C_10)
    presets["memory"] = {**presets["paper_tables"], "memory_rounds": 4}
    # The paper's optimiser for a 15k-step CPU run instead of 300k steps: a 3x higher learning
    # rate (3e-3 -> 3e-4) and Adam eps 1e-5, equal or better than the paper's at 15k steps.
    train_defaults = dict(
        q=10.0, n_seeds=10, batch_size=256, steps=15_000, lr=3e-3, lr_end=3e-4, warmup=1000,
        weight_decay=0.1, adam_eps=1e-5,
    )  # fmt: skip

    def __init__(self, n_vertices: int = 10) -> None:
        super().__init__(n_vertices=n_vertices)
        self.n_vertices = n_vertices
        self.policy_seed_length = n_vertices  # one U[0, 1] seed per vertex token

    def make_player(self, **options: Any) -> Any:
        """How a model colors the env's graphs in the evolution pipeline."""
        return ColoringPlayer(self.env, **options)

    def similar_views(self, batch: Batch, rng: np.random.Generator) -> SimilarViews:
        """The batch's cycles and the same cycles with their vertex tokens reordered."""
        return similarity.similar_views(batch, rng)

    def baselines(self) -> list[Baseline]:
        """Local extremes (one round), uniform colors, random trials and greedy by id.

        The last two get as many communication rounds as the paper model has attention layers.
        """
        n, rounds = self.n_vertices, self.presets["paper"]["n_layers"]
        baselines = [
            Baseline("local extremes of ids", lambda seed: LocalExtremes(n), False),
            Baseline("local extremes of random keys", lambda seed: LocalExtremes(n, seed), True),
            Baseline("uniform random coloring", lambda seed: RandomTrials(n, 0, seed), True),
            Baseline(f"random trials, {rounds} rounds", lambda s: RandomTrials(n, rounds, s), True),
            Baseline(f"greedy by id, {rounds} rounds", lambda seed: GreedyById(n, rounds), False),
        ]
        return [replace(b, batch_returns=partial(batch_returns, b)) for b in baselines]

    def batch(self, adjacency: np.ndarray) -> Batch:
        """Tensors of cycles (n, N, N) 0/1.

        Returns:
            ``{"adjacency": (n, N, N) bool, "order": (n, N) int64}``; the order is the vertex
            sequence around each cycle, the order of ``logits``' positions.
        """
        return _cycles_batch(adjacency, cycle_orders(adjacency)[0])

    def sample(self, rng: np.random.Generator, n: int) -> Batch:
        """``batch`` of ``n`` fresh cycles, ordered from the generator's draws, not its walks."""
        orders = orders_of_sequences(self.generator.sample_sequences(rng, n))
        return _cycles_batch(adjacency_from_orders(orders), orders)

    def evaluation_set(self, rng: np.random.Generator, quick: bool = False) -> Batch:
        """All (N-1)!/2 cycles (181,440 for N = 10) in the generator's numbering; quick: 8192."""
        if quick:
            return self.sample(rng, QUICK_INSTANCES)
        return self.batch(self.generator.cycles_from_indices(np.arange(self.num_instances)))

    def tokens(self, batch: Batch) -> Tensor:
        """The raw tokens (n, N, N): vertex v is the one-hot id e_v."""
        return vertex_tokens(batch["adjacency"].shape[0], self.n_vertices)

    def logits(self, model: SeededTransformer, batch: Batch, policy_seed: Tensor) -> Tensor:
        """Color logits (B, S, N, 3) with the adjacency as the attention mask, in cycle order.

        Position p holds vertex ``batch["order"][b, p]``: a cycle's neighbours are neighbouring
        positions, which is how ``loss``, ``correct`` and ``sampled_success`` read them.

        Under ``torch.compile`` (the trainer's ``compile``) through
        ``SeededTransformer.forward_cycle``, whose attention over the cycle's neighbours the
        compiler fuses into a few loops (a training step about 4x faster); eager through the
        masked forward pass, whose few large products are faster without that fusion
        (``benchmarks/train_step.py``). Both give the same logits.
        """
        if torch.compiler.is_compiling():
            return self.cycle_logits(model, batch, policy_seed)
        return self.masked_logits(model, batch, policy_seed)

    def masked_logits(self, model: SeededTransformer, batch: Batch, policy_seed: Tensor) -> Tensor:
        """``logits`` through the full forward pass with the adjacency as an N x N mask."""
        by_vertex = self.vertex_logits(model, batch, policy_seed)
        return in_cycle_order(by_vertex, batch["order"].to(by_vertex.device))

    def vertex_logits(self, model: SeededTransformer, batch: Batch, policy_seed: Tensor) -> Tensor:
        """Color logits (B, S, N, 3) by vertex (row v: vertex v), as ``env.step`` takes colors."""
        tokens = self.tokens(batch).to(model.head.weight)
        return model(tokens, policy_seed, mask=batch["adjacency"].to(tokens.device))

    def cycle_logits(self, model: SeededTransformer, batch: Batch, policy_seed: Tensor) -> Tensor:
        """``logits`` through ``SeededTransformer.forward_cycle`` of the batch's cycle orders."""
        vocab = vertex_tokens(1, self.n_vertices)[0].to(model.head.weight)  # e_v: vertex v
        return model.forward_cycle(batch["order"].to(vocab.device), vocab, policy_seed)

    def loss(self, logits: Tensor, batch: Batch) -> Tensor:
        """The partial-coloring loss (expected monochromatic edges), (B, S)."""
        return cycle_coloring_loss(logits)

    def predict(self, logits: Tensor) -> Tensor:
        """The argmax coloring (B, S, N) int64."""
        return logits.argmax(dim=-1)

    def correct(self, prediction: Tensor, batch: Batch) -> Tensor:
        """Whether colorings (B, K, N) in cycle order are proper, (B, K) bool."""
        return (prediction != prediction.roll(-1, dims=-1)).all(dim=-1)

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
        around = logits.softmax(dim=-1)  # (B, S, N, C) in cycle order
        product = torch.eye(N_COLORS, dtype=around.dtype).expand(*around.shape[:2], -1, -1)
        for i in range(self.n_vertices):
            scaled = product * around[..., i, None, :]  # (B, S, C, C): M D_i
            product = scaled.sum(dim=-1, keepdim=True) - scaled  # M D_i J
        return product.diagonal(dim1=-2, dim2=-1).sum(dim=-1)

    def probabilities(self, logits: Tensor) -> Tensor:
        """The predictive probabilities (B, S, N * 3) of every vertex's colors."""
        return logits.softmax(dim=-1).flatten(-2)


def _cycles_batch(adjacency: np.ndarray, orders: np.ndarray) -> Batch:
    """The batch tensors of cycles (n, N, N) 0/1 walked in orders (n, N)."""
    return {"adjacency": torch.from_numpy(adjacency != 0), "order": torch.from_numpy(orders)}
