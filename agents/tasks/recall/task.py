"""Associative recall (`RandAlg/AssociativeRecall-v1`) as a supervised task.

The tokens are those of the evolution player (``agents.tasks.recall.player``): the N
(key, value) tokens, then the query token, as ids into a fixed vocabulary, which lets
``SeededTransformer.forward_last`` embed each token once per seed; the policy seed is
concatenated by the model, the mask is causal and the answer is read at the last position:
``d`` logits, one per bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from agents.baselines.recall import StoreSubset
from agents.models.transformer import SeededTransformer
from agents.tasks.base import Baseline, Batch, SupervisedTask
from agents.tasks.recall import similarity
from agents.tasks.recall.player import RecallPlayer, recall_token_ids, recall_vocabulary
from agents.tasks.similarity import SimilarViews

EVALUATION_FILLINGS = 16  # random fillings per (query position, query value) in the full set
QUICK_FILLINGS = 2  # ... in the quick set of training logs (960 inputs for N = 15)


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


class RecallTask(SupervisedTask):
    """Recall of one of ``n_pairs`` values of ``value_bits`` bits after seeing all of them.

    Args:
        n_pairs: N, the number of (key, value) pairs in a sequence.
        value_bits: d, the bits of a value.
    """

    name = "recall"
    env_id = "RandAlg/AssociativeRecall-v1"
    size_kwarg = "n_pairs"
    presets = {
        # the public re-implementation's 2-layer linear-attention model (GELU + Linear pre-layer);
        # the paper's Table 1 describes positions, MLP and LayerNorm instead (docs/paper.md)
        "paper": dict(
            width=40, n_layers=2, n_heads=1, key_size=5, attention="linear", mlp=False,
            layer_norm=False, embed_mlp=True, positional="none", mask="causal",
            seed_mode="shared_bits", seed_dim=10,
        ),
        # the paper's Table 1 read literally where it can be: width ("token size") 15 = d + d_r,
        # pre-LN, MLP blocks, sinusoidal positions, 2 linear-attention layers (1 head, key 5);
        # "no input embedding" read as no embedding table: the raw token [key, value, seed]
        # (N + d + d_r features) still needs a linear map to width 15 (docs/paper.md)
        "paper_tables": dict(
            width=15, n_layers=2, n_heads=1, key_size=5, attention="linear", mlp=True,
            layer_norm=True, embed_mlp=False, positional="sinusoidal", mask="causal",
            seed_mode="shared_bits", seed_dim=10,
        ),
    }  # fmt: skip
    # the paper preset's blocks as a MemoryProcessor with 2 rounds (without LayerNorm, more
    # rounds of its un-normalised linear attention overflow)
    presets["memory"] = {**presets["paper"], "memory_rounds": 2}
    # The paper's optimiser sized for a 30-minute CPU run: batch 128 instead of 512 (256 and
    # 128 reached the same figures per step) and 24k steps.
    train_defaults = dict(
        q=100.0, n_seeds=30, batch_size=128, steps=24_000, lr=3e-3, lr_end=3e-4, warmup=2000,
        weight_decay=0.0, adam_eps=1e-5,
    )  # fmt: skip

    def __init__(self, n_pairs: int = 15, value_bits: int = 5) -> None:
        super().__init__(n_pairs=n_pairs, value_bits=value_bits)
        self.n_pairs, self.value_bits = n_pairs, value_bits
        self.vocab = recall_vocabulary(n_pairs, value_bits)  # (N * 2**d + N, N + d)

    def make_player(self, **options: Any) -> Any:
        """How a model answers the env's observations in the evolution pipeline."""
        return RecallPlayer(self.env, **options)

    def similar_views(self, batch: Batch, rng: np.random.Generator) -> SimilarViews:
        """The batch's sequences and the same with fresh unqueried values."""
        return similarity.similar_views(batch, rng, self.vocab, self.n_pairs, self.value_bits)

    def baselines(self) -> list[Baseline]:
        """Memories of two thirds of the values: the first ones, or a subset chosen by the seed."""
        memory = max(1, 2 * self.n_pairs // 3)
        return [
            Baseline(f"store first {memory}", lambda seed: StoreSubset(memory), False),
            Baseline(f"store random {memory}", lambda seed: StoreSubset(memory, seed), True),
        ]

    def batch(self, instances: dict[str, np.ndarray]) -> Batch:
        """Tensors of generator instances ``{"values": (n, N, d), "query": (n,)}``.

        Returns:
            ``{"ids": (n, N + 1) int64 token ids, "bits": (n, d) float targets}``.
        """
        values, query = instances["values"], instances["query"]
        ids = recall_token_ids(values, query)  # (n, N + 1)
        bits = values[np.arange(len(query)), query]  # (n, d)
        return {"ids": torch.from_numpy(ids), "bits": torch.from_numpy(bits.astype(np.float32))}

    def evaluation_set(self, rng: np.random.Generator, quick: bool = False) -> Batch:
        """Every query position x every query value x 16 (quick: 2) fillings of the others."""
        fillings = QUICK_FILLINGS if quick else EVALUATION_FILLINGS
        return self.batch(self.generator.query_set(fillings, rng))

    def tokens(self, batch: Batch) -> Tensor:
        """The raw tokens (n, N + 1, N + d) of a batch, for ``SeededTransformer.forward``."""
        return self.vocab[batch["ids"]]

    def logits(self, model: SeededTransformer, batch: Batch, policy_seed: Tensor) -> Tensor:
        """Bit logits (B, S, d) at the query position, one set per policy seed."""
        vocab = self.vocab.to(model.head.weight)
        return model.forward_last(batch["ids"].to(vocab.device), vocab, policy_seed)

    def loss(self, logits: Tensor, batch: Batch) -> Tensor:
        """The sum over bits of binary cross-entropy, (B, S)."""
        return recall_loss(logits, batch["bits"].unsqueeze(1))

    def predict(self, logits: Tensor) -> Tensor:
        """The argmax answer: bits (B, S, d) bool."""
        return logits > 0

    def correct(self, prediction: Tensor, batch: Batch) -> Tensor:
        """Whether all bits of predictions (B, K, d) are right, (B, K) bool."""
        return (prediction == batch["bits"].bool().unsqueeze(1)).all(dim=-1)

    def vote(self, prediction: Tensor, dim: int) -> Tensor:
        """The per-bit majority of bit predictions along ``dim`` (odd size), kept as size 1."""
        return prediction.float().mean(dim=dim, keepdim=True) > 0.5

    def sampled_success(self, logits: Tensor, batch: Batch) -> Tensor:
        """P(all bits right) when each bit is sampled from its sigmoid, (B, S)."""
        signs = batch["bits"].unsqueeze(1) * 2 - 1  # (B, 1, d): +1 for a 1 bit, -1 for a 0 bit
        return torch.sigmoid(logits * signs).prod(dim=-1)

    def probabilities(self, logits: Tensor) -> Tensor:
        """The predictive probabilities (B, S, d) of the bits being 1."""
        return torch.sigmoid(logits)
