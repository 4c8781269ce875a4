"""`RandAlg/AssociativeRecall-v1`: recall the value stored under a queried one-hot key."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from randgym.envs.associative_recall.core import RecallDynamics, RecallState
from randgym.envs.associative_recall.generator import RecallGenerator
from randgym.envs.rendering import BLACK, WHITE, upscale
from randgym.envs.task_env import TaskEnv

QUERY_COLOR = (240, 190, 40)
RIGHT_COLOR = (0, 160, 135)
WRONG_COLOR = (220, 50, 50)


class AssociativeRecallEnv(TaskEnv):
    """Associative recall with an adversarially chosen query (paper section 3.2).

    ## Description
    `n_pairs` (N) values of `value_bits` (d) random bits are stored under the one-hot keys
    `e_0 ... e_{N-1}`; then one key is queried and the agent must answer its value. A model
    whose memory holds fewer than N values must choose what to store; an adversary that
    knows a deterministic storage rule queries a value that was not stored, while a
    randomized rule fails a query only with some probability.

    ## Action Space
    `MultiBinary(value_bits)`: the predicted value bits.

    ## Observation Space
    A `Dict` with `pair_values` (`MultiBinary((n_pairs, value_bits))`, the N values in key
    order: row i is the value of key `e_i`) and `query` (`MultiBinary(n_pairs)`, the one-hot key
    queried). Sequence models read row i with key `e_i` as token i and `query` as the
    final token.

    ## Rewards
    1 when every bit of the answer equals the queried value, else 0.
    `info["bits_correct"]` is the number of bits answered right.

    ## Starting State
    The instance `{"values": (N, d) int8 array of 0/1, "query": int}` from
    `options["instance"]` (a tuple `(values, query)` works too), or N * d fair bits and a
    uniform query.

    ## Episode End
    Terminates after the single answer; it is never truncated.

    ## Arguments
    `n_pairs=15` (N, 1 to 1024; the paper sweeps 8 to 20), `value_bits=5` (d, 1 to 30),
    `render_mode` (`"ansi"` or `"rgb_array"`). A value outside its range raises ValueError
    before anything is allocated.
    `gym.make_vec` also takes `num_envs`: 1 to 1,000,000, with at most 256 MiB of observations
    in the batch.

    ## Version History
    - v1: the observation key `values` is renamed `pair_values` (`values` clashes with
      `torch.nn.ModuleDict.values`, so SB3's `MultiInputPolicy` could not be built). The
      instances (`options["instance"]`, `info["instance"]`) keep their keys.
    - v0: initial version; deprecated (`AssociativeRecallEnvV0`): `gym.make` warns.
    """

    values_key = "pair_values"  # the observation key of the N values

    def __init__(
        self, n_pairs: int = 15, value_bits: int = 5, render_mode: str | None = None
    ) -> None:
        super().__init__(render_mode)
        self.generator = RecallGenerator(n_pairs, value_bits)
        n_pairs, value_bits = self.generator.n_pairs, self.generator.value_bits
        self.dynamics = RecallDynamics(n_pairs, value_bits, self.values_key)
        self.observation_space = spaces.Dict(
            {
                self.values_key: spaces.MultiBinary((n_pairs, value_bits)),
                "query": spaces.MultiBinary(n_pairs),
            }
        )
        self.action_space = spaces.MultiBinary(value_bits)

    def render_text(self, state: RecallState, index: int) -> str:
        """One row per key (index, value bits, `<- query` on the queried one), then the answer."""
        query = int(state.query[index])
        rows = [f"key  value{' ' * max(self.dynamics.value_bits - 5, 0)}"]
        for key, value in enumerate(state.values[index]):
            marker = "  <- query" if key == query else ""
            rows.append(f"{key:>3}  {_bits(value)}{marker}")
        if state.done[index]:
            answer = state.answer[index]
            right = int((answer == state.values[index, query]).sum())
            bits = self.dynamics.value_bits
            verdict = "right" if right == bits else "wrong"
            rows.append(f"answer {_bits(answer)}: {right}/{bits} bits right, {verdict}")
        else:
            rows.append(f"query key {query}, no answer yet")
        return "\n".join(rows) + "\n"

    def render_rgb(self, state: RecallState, index: int) -> np.ndarray:
        """A row per key (marker cell, then bits black = 1) and a last row for the answer.

        The queried key's marker is gold; the answer row's marker is green when right, red
        when wrong and white before the answer.
        """
        n_pairs, value_bits = self.dynamics.n_pairs, self.dynamics.value_bits
        query = int(state.query[index])
        colors = np.full((n_pairs + 1, value_bits + 1, 3), WHITE, dtype=np.uint8)
        colors[:n_pairs, 1:][state.values[index] == 1] = BLACK
        colors[query, 0] = QUERY_COLOR
        if state.done[index]:
            answer = state.answer[index]
            colors[n_pairs, 1:][answer == 1] = BLACK
            right = (answer == state.values[index, query]).all()
            colors[n_pairs, 0] = RIGHT_COLOR if right else WRONG_COLOR
        return upscale(colors)


class AssociativeRecallEnvV0(AssociativeRecallEnv):
    """The deprecated `RandAlg/AssociativeRecall-v0`: the values are observed as `values`."""

    values_key = "values"


def _bits(bits: np.ndarray) -> str:
    return "".join(str(int(bit)) for bit in bits)
