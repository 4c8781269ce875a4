"""Upper bounds on the envs' sizes, so an oversized argument fails at once with a ValueError.

Without them `size=10**6` would spend minutes allocating before a MemoryError. Each bound
keeps one env (its observation, dynamics state and an `rgb_array` frame) within about
100 MiB. The vector envs also cap their batch of observations at 256 MiB: their peak memory
is several times that (the batched spaces' bounds, the state, the sampled instances).
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

GRID_MAX_SIZE = 64
GRID_MAX_HORIZON = 10_000
GRID_MAX_PHASES = 100
RECALL_MAX_PAIRS = 1024
RECALL_MAX_VALUE_BITS = 30
COLORING_MAX_VERTICES = 256
COLORING_MAX_COLORS = 256
MAX_NUM_ENVS = 1_000_000
MAX_BATCH_OBSERVATION_BYTES = 2**28


def observation_bytes(space: spaces.Space) -> int:
    """The bytes of one observation of `space` (a `Dict` of array spaces, or one of them)."""
    if isinstance(space, spaces.Dict):
        return sum(observation_bytes(subspace) for subspace in space.values())
    return int(np.prod(space.shape)) * np.dtype(space.dtype).itemsize


def check_batch_bytes(num_envs: int, single_space: spaces.Space) -> None:
    """Raises ValueError if `num_envs` observations of `single_space` exceed the 256 MiB cap."""
    per_env = observation_bytes(single_space)
    if num_envs * per_env > MAX_BATCH_OBSERVATION_BYTES:
        raise ValueError(
            f"num_envs={num_envs} sub-envs of {per_env} observation bytes each need "
            f"{num_envs * per_env} bytes, more than the limit of {MAX_BATCH_OBSERVATION_BYTES} "
            f"bytes; expected num_envs <= {MAX_BATCH_OBSERVATION_BYTES // per_env}"
        )
