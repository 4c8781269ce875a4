"""Associative recall as a supervised task: tokens, loss and success (paper-spec section 3.1).

Token ``i < N`` is ``[one-hot key i (N), value bits v_i (d)]`` and the query token is
``[one-hot key of the queried index, zeros (d)]``; the policy seed is concatenated by the model,
the mask is causal and the answer is read at the last position: ``d`` logits, one per bit.
There are only ``N * 2**d + N`` distinct tokens, so a sequence is a row of ids into a fixed
vocabulary, which lets ``SeededTransformer.forward_last`` embed each token once per seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from agents.models.presets import preset
from agents.models.transformer import SeededTransformer, TransformerConfig
from agents.supervised.qnorm import recall_loss
from randgym.envs.associative_recall.generator import RecallGenerator

Batch = dict[str, Tensor]  # a batch of instances as named tensors, first dim the instances


class RecallTask:
    """Recall of one of ``n_pairs`` values of ``value_bits`` bits after seeing all of them.

    Args:
        n_pairs: N, the number of (key, value) pairs in a sequence.
        value_bits: d, the bits of a value.
    """

    name = "recall"
    policy_seed_length = None  # the seed is one vector shared by all tokens

    def __init__(self, n_pairs: int, value_bits: int = 5) -> None:
        self.generator = RecallGenerator(n_pairs, value_bits)
        self.n_pairs, self.value_bits = n_pairs, value_bits
        n_values = 2**value_bits
        self.weights = 2 ** np.arange(value_bits - 1, -1, -1)  # bits -> value number, MSB first
        codes = np.arange(n_values)[:, None] // self.weights % 2  # (2**d, d): bits of each value
        keys = np.eye(n_pairs, dtype=np.float32)
        value_tokens = np.concatenate(
            [np.repeat(keys, n_values, axis=0), np.tile(codes, (n_pairs, 1))], axis=1
        )  # (N * 2**d, N + d): id i * 2**d + value
        query_tokens = np.concatenate([keys, np.zeros((n_pairs, value_bits))], axis=1)  # (N, N+d)
        self.vocab = torch.tensor(np.concatenate([value_tokens, query_tokens]), dtype=torch.float32)

    @property
    def spec(self) -> dict[str, Any]:
        """What identifies the task in a checkpoint."""
        return {"name": self.name, "n_pairs": self.n_pairs, "value_bits": self.value_bits}

    def model_config(self, **overrides: Any) -> TransformerConfig:
        """The paper-sized model (``preset("recall")``) for this N, with field overrides."""
        sizes = {"input_dim": self.n_pairs + self.value_bits, "output_dim": self.value_bits}
        return preset("recall", n_pairs=self.n_pairs, **{**sizes, **overrides})

    def batch(self, instances: dict[str, np.ndarray]) -> Batch:
        """Tensors of generator instances ``{"values": (n, N, d), "query": (n,)}``.

        Returns:
            ``{"ids": (n, N + 1) int64 token ids, "bits": (n, d) float targets}``.
        """
        values, query = instances["values"], instances["query"]
        numbers = values.astype(np.int64) @ self.weights  # (n, N): each value as a number
        offsets = np.arange(self.n_pairs) * 2**self.value_bits  # (N,): first id of each key
        query_ids = self.n_pairs * 2**self.value_bits + query  # (n,)
        ids = np.concatenate([offsets + numbers, query_ids[:, None]], axis=1)  # (n, N + 1)
        bits = values[np.arange(len(query)), query]  # (n, d)
        return {"ids": torch.from_numpy(ids), "bits": torch.from_numpy(bits.astype(np.float32))}

    def sample(self, rng: np.random.Generator, n: int) -> Batch:
        """``n`` fresh uniform instances from the env generator's batch sampler."""
        return self.batch(self.generator.sample_batch(rng, n))

    def evaluation_set(self, rng: np.random.Generator, fillings: int = 16) -> Batch:
        """Every query position x every query value x ``fillings`` fillings of the others."""
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
