"""Batched dynamics of associative recall, as pure functions on arrays.

A batch of `n` episodes is a `RecallState` of arrays with leading dimension `n`. An episode
is one step: the agent sees the N values and the queried key, answers with d bits and is done.
The observation names the values `pair_values` (`values` in the deprecated v0, a name that
clashes with `torch.nn.ModuleDict.values` in SB3's `MultiInputPolicy`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from randgym.envs.dynamics import StepResult


class RecallState(NamedTuple):
    """A batch of associative-recall episodes."""

    values: np.ndarray  # (n, N, d) int8, the instance's values (value i has key e_i)
    query: np.ndarray  # (n,) int64, the instance's queried key index
    answer: np.ndarray  # (n, d) int8, the bits answered (zeros before the step)
    done: np.ndarray  # (n,) bool, the query has been answered


@dataclass(frozen=True)
class RecallDynamics:
    """The recall rules; all methods are pure functions of their arguments."""

    n_pairs: int = 15
    value_bits: int = 5
    values_key: str = "pair_values"  # the observation key of the values ("values" in v0)

    def reset(self, instances: dict[str, np.ndarray]) -> RecallState:
        """Episodes on the instance batch `{"values": (n, N, d), "query": (n,)}`."""
        query = np.array(instances["query"], dtype=np.int64)
        return RecallState(
            values=np.array(instances["values"], dtype=np.int8),
            query=query,
            answer=np.zeros((len(query), self.value_bits), dtype=np.int8),
            done=np.zeros(len(query), dtype=bool),
        )

    def step(self, state: RecallState, actions: np.ndarray) -> StepResult:
        """Scores the answers (n, d): reward 1 when every bit equals the queried value."""
        active = ~state.done
        answer = np.asarray(actions).astype(np.int8)
        target = state.values[np.arange(len(state.query)), state.query]
        bits_correct = (answer == target).sum(axis=1, dtype=np.int64) * active
        reward = ((bits_correct == self.value_bits) & active).astype(np.float64)
        new_state = RecallState(
            values=state.values,
            query=state.query,
            answer=np.where(active[:, None], answer, state.answer),
            done=np.ones_like(state.done),
        )
        return StepResult(new_state, reward, active, {"bits_correct": bits_correct})

    def observe(self, state: RecallState) -> dict[str, np.ndarray]:
        """The values (n, N, d) and the one-hot queried key (n, N), both int8."""
        return {
            self.values_key: state.values.copy(),
            "query": np.eye(self.n_pairs, dtype=np.int8)[state.query],
        }

    def instances(self, state: RecallState) -> dict[str, np.ndarray]:
        """The instance batch `{"values": (n, N, d), "query": (n,)}`."""
        return {"values": state.values, "query": state.query}
