"""`TokenHistory`: the episode's tokens so far as the observation, for a memoryless policy.

An SB3 policy sees one observation at a time. Wrapped in `TokenHistory`, an env observes the
whole episode so far as the task's own tokens (its player's `tokens`, the ones our seeded
transformer reads), padded to the episode's length, so a features extractor can run the
causal transformer over the history (`agents.sb3.features.TransformerFeatures`):

- ``tokens``: Box (length * token_dim,) float32, token t in row t, zeros after the last one
  (the players' tokens are one-hots and copies of observed values, so they lie within
  +-max(1, the largest bound of the env's Box observations));
- ``mask``: MultiBinary(length), 1 for the tokens seen so far;
- ``attention``: MultiBinary((length, length)), only for players that mask attention (the
  coloring task's adjacency: a vertex attends to its neighbours).

A one-shot task's single observation is already a whole sequence (all its tokens are seen at
once). A sequential task adds one token per step; the terminal observation after the last
decision has no row left and is not recorded (no policy acts on it; no randgym env
truncates). Wrap other observation wrappers, e.g. `PolicySeedObservation`, around this one:
their keys pass to the features extractor beside the history.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from agents.tasks import task_for_env

HISTORY_KEYS = ("tokens", "mask", "attention")


def task_player(env: gym.Env, **options: Any) -> Any:
    """The player of the task that plays ``env`` (made with ``gym.make``), with ``options``.

    Raises:
        ValueError: If ``env`` was not made from a registered id that a task plays, or its
            kwargs are not the task's.
    """
    spec = env.unwrapped.spec
    if spec is None:
        raise ValueError(f"{env} has no spec; make it with gym.make or pass a player")
    task_class = task_for_env(spec.id)
    kwargs = {key: value for key, value in spec.kwargs.items() if key != "render_mode"}
    try:
        task = task_class(**kwargs)
    except TypeError as error:
        message = f"env kwargs {kwargs} do not fit the task {task_class.name!r}: {error}"
        raise ValueError(message) from None
    return task.make_player(**options)


class TokenHistory(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Observes the tokens of the episode so far (see the module docstring).

    Args:
        env: A randgym env with a ``Dict`` observation.
        player: Its tokenizer (``tokens``, ``mask``, ``length``, ``input_dim``, ``one_shot``);
            default: the player of the env's task (`task_player`).
    """

    def __init__(self, env: gym.Env, player: Any = None) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, player=player)
        gym.Wrapper.__init__(self, env)
        self.player = task_player(env) if player is None else player
        self.length, self.token_dim = self.player.length, self.player.input_dim
        sample = _batch_of_one(env.observation_space.sample())
        self.masked = self.player.mask(sample) is not None
        bound = _largest_bound(env.observation_space)
        history = {
            "tokens": spaces.Box(-bound, bound, (self.length * self.token_dim,), np.float32),
            "mask": spaces.MultiBinary(self.length),
        }
        if self.masked:
            history["attention"] = spaces.MultiBinary((self.length, self.length))
        self.observation_space = spaces.Dict(history)
        self._tokens = np.zeros((self.length, self.token_dim), dtype=np.float32)
        self._count = 0

    @property
    def per_token_actions(self) -> bool:
        """Whether the action has one component per token (a color per vertex)."""
        space = self.env.action_space
        return isinstance(space, spaces.MultiDiscrete) and space.shape == (self.length,)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Starts an empty history and records the first observation."""
        obs, info = self.env.reset(seed=seed, options=options)
        self._tokens[:] = 0.0
        self._count = 0
        return self._record(obs), info

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        """Steps the env and records its observation."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._record(obs), reward, terminated, truncated, info

    def _record(self, obs: dict[str, Any]) -> dict[str, np.ndarray]:
        batch = _batch_of_one(obs)
        tokens = self.player.tokens(batch).numpy()[0]  # (L, dim) one-shot, (dim,) per step
        if self.player.one_shot:
            self._tokens[:] = tokens
            self._count = self.length
        elif self._count < self.length:
            self._tokens[self._count] = tokens
            self._count += 1
        out = {
            "tokens": self._tokens.flatten(),
            "mask": (np.arange(self.length) < self._count).astype(np.int8),
        }
        if self.masked:
            out["attention"] = self.player.mask(batch)[0].numpy().astype(np.int8)
        return out


def _batch_of_one(obs: dict[str, Any]) -> dict[str, np.ndarray]:
    """A single observation as a batch of one, as the players read them."""
    return {key: np.asarray(value)[None] for key, value in obs.items()}


def _largest_bound(space: spaces.Dict) -> float:
    """max(1, the largest absolute bound of the Box spaces of a Dict observation space)."""
    boxes = [sub for sub in space.spaces.values() if isinstance(sub, spaces.Box)]
    return max([1.0] + [float(np.abs([box.low, box.high]).max()) for box in boxes])
