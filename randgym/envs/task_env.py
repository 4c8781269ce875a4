"""`TaskEnv`: a single-episode `gym.Env` on top of a task's batched dynamics (batch of one)."""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium.error import ResetNeeded

from randgym.envs.batching import batch_index, batch_stack
from randgym.envs.dynamics import Dynamics
from randgym.envs.generator import InstanceGenerator

RESET_OPTIONS = frozenset({"instance"})


class TaskEnv(gym.Env):
    """Base class of the randgym envs: instances, validation and rendering plumbing.

    Subclasses set `generator`, `dynamics`, `observation_space` and `action_space` in their
    constructor and implement `render_text` and `render_rgb` for one entry of a state batch.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}
    generator: InstanceGenerator
    dynamics: Dynamics

    def __init__(self, render_mode: str | None = None) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} is not supported; "
                f"expected one of {self.metadata['render_modes']} or None"
            )
        self.render_mode = render_mode
        self._state: Any = None
        self._finished = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Starts an episode on `options["instance"]`, or on one drawn with `self.np_random`."""
        super().reset(seed=seed)
        instance = instance_from_options(self.generator, options)
        if instance is None:
            instance = self.generator.sample(self.np_random)
        self._state = self.dynamics.reset(batch_stack([instance]))
        self._finished = False
        return self._observation(), {"instance": self._instance()}

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Plays one action; raises `ResetNeeded` once the episode is over."""
        if self._state is None or self._finished:
            raise ResetNeeded(
                "step() was called on a finished (or never started) episode; call reset() first"
            )
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not in the action space {self.action_space}")
        result = self.dynamics.step(self._state, batch_stack([action]))
        self._state = result.state
        self._finished = bool(result.terminated[0])
        extra = batch_index(result.info, 0)
        info = {"instance": self._instance(), **{k: _python_scalar(v) for k, v in extra.items()}}
        return self._observation(), float(result.reward[0]), self._finished, False, info

    def render(self) -> str | np.ndarray | None:
        """Renders the current state as text (`ansi`) or an RGB image (`rgb_array`)."""
        if self.render_mode is None or self._state is None:
            return None
        if self.render_mode == "ansi":
            return self.render_text(self._state, 0)
        return self.render_rgb(self._state, 0)

    def render_text(self, state: Any, index: int) -> str:
        """A readable text picture of entry `index` of a state batch."""
        raise NotImplementedError

    def render_rgb(self, state: Any, index: int) -> np.ndarray:
        """An RGB image (H, W, 3) uint8 of entry `index` of a state batch."""
        raise NotImplementedError

    def _observation(self) -> dict[str, np.ndarray]:
        return batch_index(self.dynamics.observe(self._state), 0)

    def _instance(self) -> Any:
        return batch_index(self.dynamics.instances(self._state), 0)


def instance_from_options(generator: InstanceGenerator, options: dict[str, Any] | None) -> Any:
    """The validated `options["instance"]`, or None when no instance was asked for."""
    if not options:
        return None
    unknown = set(options) - RESET_OPTIONS
    if unknown:
        raise ValueError(
            f"unknown reset option(s) {sorted(unknown)}; expected only {sorted(RESET_OPTIONS)}"
        )
    instance = options.get("instance")
    return None if instance is None else generator.validate(instance)


def _python_scalar(value: Any) -> Any:
    """0-d numpy values as Python scalars (so vector envs batch them into typed arrays)."""
    return value.item() if np.ndim(value) == 0 else value
