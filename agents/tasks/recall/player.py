"""How a transformer plays `AssociativeRecall-v1`, and the recall tokenization it shares.

Token ``i < N`` is ``[one-hot key i (N), value bits v_i (d)]`` and the query token is
``[one-hot key of the queried index, zeros (d)]``. There are only ``N * 2**d + N`` distinct
tokens, so a sequence is a row of ids into a fixed vocabulary (`recall_vocabulary`,
`recall_token_ids`); the supervised task uses the same two functions. The answer is read at
the last position: one logit per bit, a bit is 1 when its logit is positive.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from randgym.envs.associative_recall.core import RecallState
from randgym.envs.associative_recall.env import AssociativeRecallEnv


def _bit_weights(value_bits: int) -> np.ndarray:
    """The place value of each bit (d,), most significant first."""
    return 2 ** np.arange(value_bits - 1, -1, -1)


def recall_vocabulary(n_pairs: int, value_bits: int) -> Tensor:
    """Every distinct token (N * 2**d + N, N + d) float32, indexed by `recall_token_ids`.

    Id ``i * 2**d + v`` is key i holding the value numbered v; id ``N * 2**d + i`` queries key i.
    """
    n_values = 2**value_bits
    codes = np.arange(n_values)[:, None] // _bit_weights(value_bits) % 2  # (2**d, d)
    keys = np.eye(n_pairs, dtype=np.float32)
    value_tokens = np.concatenate(
        [np.repeat(keys, n_values, axis=0), np.tile(codes, (n_pairs, 1))], axis=1
    )  # (N * 2**d, N + d)
    query_tokens = np.concatenate([keys, np.zeros((n_pairs, value_bits))], axis=1)  # (N, N+d)
    return torch.tensor(np.concatenate([value_tokens, query_tokens]), dtype=torch.float32)


def recall_token_ids(values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Token ids (n, N + 1) int64 of instances: values (n, N, d) 0/1 and query indices (n,)."""
    n_pairs, value_bits = values.shape[1:]
    numbers = values.astype(np.int64) @ _bit_weights(value_bits)  # (n, N): values as numbers
    offsets = np.arange(n_pairs) * 2**value_bits  # (N,): first id of each key
    query_ids = n_pairs * 2**value_bits + np.asarray(query, dtype=np.int64)  # (n,)
    return np.concatenate([offsets + numbers, query_ids[:, None]], axis=1)


class RecallPlayer:
    """Answers recall queries in one shot (a `Player` of `agents.evolution.engine`).

    Args:
        env: The (unwrapped) recall env; its N and d set the token sizes.
    """

    one_shot = True
    max_return = 1.0  # reward 1 for a right answer

    def __init__(self, env: AssociativeRecallEnv) -> None:
        self.n_pairs, self.value_bits = env.dynamics.n_pairs, env.dynamics.value_bits
        self.values_key = env.dynamics.values_key  # "pair_values" ("values" in the old v0)
        self.vocab = recall_vocabulary(self.n_pairs, self.value_bits)

    @property
    def input_dim(self) -> int:
        """Features per token: the one-hot key and the value bits."""
        return self.n_pairs + self.value_bits

    @property
    def output_dim(self) -> int:
        """One logit per answer bit."""
        return self.value_bits

    @property
    def length(self) -> int:
        """Tokens of a sequence: the N pairs and the query."""
        return self.n_pairs + 1

    def tokens(self, obs: dict[str, np.ndarray], dtype: torch.dtype = torch.float32) -> Tensor:
        """Token sequences (n, N + 1, N + d) of observations (as `RecallDynamics.observe`)."""
        ids = recall_token_ids(obs[self.values_key], obs["query"].argmax(axis=1))
        return self.vocab[torch.from_numpy(ids)].to(dtype)

    def mask(self, obs: dict[str, np.ndarray]) -> None:
        """No attention mask beyond the model's (causal) one."""
        del obs

    def actions(self, logits: Tensor) -> np.ndarray:
        """The answer bits (..., d) int8: positive logits at the last position (..., L, d)."""
        return (logits[..., -1, :] > 0).numpy().astype(np.int8)

    def trace(
        self, before: RecallState, after: RecallState, rows: np.ndarray, info: dict
    ) -> dict[str, np.ndarray]:
        """The answers given (n, d)."""
        del before, rows, info
        return {"answers": after.answer.copy()}
