"""`TaskVectorEnv`: a native `VectorEnv` stepping all sub-envs of a task as array operations.

It behaves exactly like `gymnasium.vector.SyncVectorEnv` over the task's single env (same
seeding of sub-envs, same instances, observations, rewards and infos), only without the
Python loop over sub-envs.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from randgym.envs.batching import batch_assign, batch_copy, batch_index, batch_stack
from randgym.envs.limits import MAX_NUM_ENVS, check_batch_bytes
from randgym.envs.task_env import TaskEnv, instance_from_options
from randgym.envs.validation import check_int

SUPPORTED_AUTORESET = (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP)


class TaskVectorEnv(VectorEnv):
    """Base class of the native vector envs; subclasses only name their `env_class`.

    Args:
        num_envs: The number of sub-envs, 1 to 1,000,000, and at most as many as keep the
            batch of observations within 256 MiB (e.g. 4,096 graphs of 256 vertices).
        autoreset_mode: `"NextStep"` (the default) or `"SameStep"`.
        render_mode: `"ansi"`, `"rgb_array"` or None.
        **env_kwargs: The arguments of `env_class`, with its bounds.
    """

    env_class: ClassVar[type[TaskEnv]]

    def __init__(
        self,
        num_envs: int,
        *,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
        **env_kwargs: Any,
    ) -> None:
        num_envs = check_int("num_envs", num_envs, 1, MAX_NUM_ENVS)
        autoreset_mode = AutoresetMode(autoreset_mode)
        if autoreset_mode not in SUPPORTED_AUTORESET:
            raise ValueError(
                f"autoreset_mode={autoreset_mode} is not supported; "
                f"expected one of {[mode.value for mode in SUPPORTED_AUTORESET]}"
            )
        self.template = self.env_class(render_mode=render_mode, **env_kwargs)
        check_batch_bytes(num_envs, self.template.observation_space)
        self.num_envs = num_envs
        self.render_mode = render_mode
        self.autoreset_mode = autoreset_mode
        self.metadata = {**self.template.metadata, "autoreset_mode": autoreset_mode}
        self.single_observation_space = self.template.observation_space
        self.single_action_space = self.template.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._rngs = [seeding.np_random()[0] for _ in range(self.num_envs)]
        self._state: Any = None
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)

    def reset(
        self,
        *,
        seed: int | list[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Resets all sub-envs (or `options["reset_mask"]`'s), seeding env i with seed + i."""
        options = dict(options or {})
        mask = self._reset_mask(options.pop("reset_mask", None))
        for i, sub_seed in enumerate(self._sub_seeds(seed)):
            if mask[i] and sub_seed is not None:
                self._rngs[i] = seeding.np_random(sub_seed)[0]
        instance = instance_from_options(self.template.generator, options)
        indices = np.flatnonzero(mask)
        if self._state is None:
            indices = np.arange(self.num_envs)
        self._restart(indices, instance)
        self._needs_reset[indices] = False
        return self._observations(), self._instance_info(indices)

    def step(
        self, actions: Any
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Steps every sub-env; finished ones restart as `autoreset_mode` prescribes."""
        if self._state is None:
            raise RuntimeError("step() was called before reset(); call reset() first")
        if not self.action_space.contains(actions):
            raise ValueError(f"actions {actions!r} are not in the action space {self.action_space}")
        result = self.template.dynamics.step(self._state, np.asarray(actions))
        self._state = result.state
        reward = result.reward.astype(np.float64)
        terminated = result.terminated.copy()
        infos: dict[str, Any] = {}
        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            restarting = np.flatnonzero(terminated)
            if restarting.size:
                infos.update(self._final(restarting, result.info))
        else:
            restarting = np.flatnonzero(self._needs_reset)
            reward[restarting] = 0.0
            terminated[restarting] = False
            self._needs_reset = terminated.copy()
        self._restart(restarting, None)
        stepped = np.ones(self.num_envs, dtype=bool)
        stepped[restarting] = False
        if stepped.any():  # SyncVectorEnv has no key that no sub-env reported
            infos.update(_masked(result.info, stepped))
        infos.update(self._instance_info(np.arange(self.num_envs)))
        truncated = np.zeros(self.num_envs, dtype=bool)
        return self._observations(), reward, terminated, truncated, infos

    def render(self) -> tuple[Any, ...] | None:
        """The frames of all sub-envs, in the env's render mode."""
        if self.render_mode is None or self._state is None:
            return None
        draw = self.template.render_text if self.render_mode == "ansi" else self.template.render_rgb
        return tuple(draw(self._state, i) for i in range(self.num_envs))

    def _restart(self, indices: np.ndarray, instance: Any) -> None:
        if indices.size == 0:
            return
        generator = self.template.generator
        if instance is None:
            instances = [generator.sample(self._rngs[i]) for i in indices]
        else:
            instances = [instance] * indices.size
        fresh = self.template.dynamics.reset(batch_stack(instances))
        if self._state is None:
            self._state = fresh
        else:
            self._state = batch_copy(self._state)
            batch_assign(self._state, indices, fresh)

    def _observations(self) -> dict[str, np.ndarray]:
        return self.template.dynamics.observe(self._state)

    def _instance_info(self, indices: np.ndarray) -> dict[str, Any]:
        mask = np.zeros(self.num_envs, dtype=bool)
        mask[indices] = True
        return _masked({"instance": self.template.dynamics.instances(self._state)}, mask)

    def _final(self, indices: np.ndarray, step_info: dict[str, np.ndarray]) -> dict[str, Any]:
        """`final_obs` and `final_info` of the sub-envs `indices`, as SyncVectorEnv has them."""
        mask = np.zeros(self.num_envs, dtype=bool)
        mask[indices] = True
        observations = self._observations()
        final_obs = np.full(self.num_envs, None, dtype=object)
        for i in indices:
            final_obs[i] = batch_index(observations, i)
        instances = self.template.dynamics.instances(self._state)
        final_info = _masked({"instance": instances, **step_info}, mask)
        return {
            "final_obs": final_obs,
            "_final_obs": mask,
            "final_info": final_info,
            "_final_info": mask.copy(),
        }

    def _reset_mask(self, mask: Any) -> np.ndarray:
        if mask is None:
            return np.ones(self.num_envs, dtype=bool)
        mask = np.asarray(mask)
        if mask.shape != (self.num_envs,) or mask.dtype != np.bool_ or not mask.any():
            raise ValueError(
                f"options['reset_mask']={mask!r} must be a bool array of shape ({self.num_envs},) "
                "with at least one True entry"
            )
        return mask

    def _sub_seeds(self, seed: int | list[int | None] | None) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, int | np.integer):
            return [int(seed) + i for i in range(self.num_envs)]
        if len(seed) != self.num_envs:
            raise ValueError(f"got {len(seed)} seeds for num_envs={self.num_envs} sub-envs")
        return list(seed)


def _masked(info: dict[str, Any], mask: np.ndarray) -> dict[str, Any]:
    """Vector-env infos: each value zeroed outside `mask`, with its `_key` mask (as Gymnasium)."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        if isinstance(value, dict):
            out[key] = _masked(value, mask)
        else:
            out[key] = np.zeros_like(value)
            out[key][mask] = value[mask]
        out[f"_{key}"] = mask.copy()
    return out
