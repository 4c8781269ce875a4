"""A per-episode policy seed in the observation: any policy becomes a seeded randomized algorithm.

The paper's randomized algorithm is a deterministic function of the input and a random seed
drawn once per episode. This wrapper draws that seed and shows it to the policy, so a
memoryless policy (e.g. an SB3 `MultiInputPolicy`) can condition every action on it:

    >>> env = PolicySeedObservation(gym.make("RandAlg/GridExplore-v0"), bits=16)
    >>> obs, info = env.reset(seed=0)  # obs["policy_seed"]: 16 bits, info["policy_seed"]: int
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from randgym.envs.validation import check_int

SEED_OPTION = "policy_seed"  # the reset option that chooses the seed of one episode
SALT = 0x5EED  # keeps the wrapper's random stream apart from the env's for the same seed
MAX_BITS = 62


class PolicySeedObservation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Adds the episode's policy seed to a `Dict` observation, as `bits` binary digits.

    Each episode's seed is an integer in `[0, 2**bits)`, observed under `key` as
    `MultiBinary(bits)` (int8, most significant bit first) and reported as
    `info["policy_seed"]` after `reset` and `step`. It is drawn uniformly by the wrapper's own
    random generator (seeded by `reset(seed=...)`, apart from the env's), unless fixed:
    `reset(options={"policy_seed": s})` fixes it for one episode, `fixed_seed` (or
    `fix_seed(s)`, e.g. through a VecEnv's `env_method`) for every episode until unfixed.

    Args:
        env: An env with a `Dict` observation space (every randgym env).
        bits: The number of seed bits, 1 to 62.
        key: The observation key of the seed; it must not be taken.
        fixed_seed: A seed for every episode, or None to draw one per episode.
    """

    def __init__(
        self, env: gym.Env, bits: int = 16, key: str = "policy_seed", fixed_seed: int | None = None
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, bits=bits, key=key, fixed_seed=fixed_seed)
        super().__init__(env)
        self.bits = check_int("bits", bits, 1, MAX_BITS)
        if not isinstance(env.observation_space, spaces.Dict):
            raise ValueError(
                f"{env} observes {env.observation_space}; expected a Dict observation space"
            )
        if key in env.observation_space.spaces:
            raise ValueError(f"observation key {key!r} is taken; pass another key=...")
        self.key = key
        self.observation_space = spaces.Dict(
            {**env.observation_space.spaces, key: spaces.MultiBinary(self.bits)}
        )
        self.fixed_seed: int | None = None
        self.fix_seed(fixed_seed)
        self._rng = np.random.default_rng()
        self._shifts = np.arange(self.bits - 1, -1, -1, dtype=np.uint64)
        self._seed = 0

    def fix_seed(self, seed: int | None) -> None:
        """Uses `seed` in every following episode (None: draw a fresh seed per episode)."""
        self.fixed_seed = None if seed is None else self._check_seed(seed)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Resets the env and picks the episode's policy seed (see the class docstring)."""
        options = dict(options or {})
        chosen = options.pop(SEED_OPTION, None)
        if seed is not None:
            self._rng = np.random.default_rng((check_int("seed", seed, 0), SALT))
        drawn = int(self._rng.integers(2**self.bits))  # drawn always: one draw per episode
        if chosen is not None:
            self._seed = self._check_seed(chosen)
        else:
            self._seed = drawn if self.fixed_seed is None else self.fixed_seed
        obs, info = self.env.reset(seed=seed, options=options or None)
        return self._observe(obs), {**info, SEED_OPTION: self._seed}

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        """Steps the env; the observation keeps the episode's seed."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._observe(obs), reward, terminated, truncated, {**info, SEED_OPTION: self._seed}

    def _observe(self, obs: dict[str, Any]) -> dict[str, Any]:
        digits = (np.uint64(self._seed) >> self._shifts) & np.uint64(1)
        return {**obs, self.key: digits.astype(np.int8)}

    def _check_seed(self, seed: Any) -> int:
        return check_int("policy_seed", seed, 0, 2**self.bits - 1)
