"""`NativeVecEnv`: a randgym native vector env seen through stable-baselines3's `VecEnv` API.

SB3 cannot train on a Gymnasium `VectorEnv` ("not a Gymnasium environment"); this adapter
steps the native env (all sub-envs as array operations) and speaks SB3's protocol: `reset()`
returns only observations and uses the seeds of `seed()` (sub-env i gets seed + i, as in
`DummyVecEnv`), finished sub-envs restart in the same step with their last observation in
`info["terminal_observation"]`, and infos are one dict per sub-env. Stepped with the same
seeds and actions it returns what `DummyVecEnv` over the single env returns.

    venv = NativeVecEnv.make("RandAlg/GridExplore-v0", num_envs=64)
    PPO("MultiInputPolicy", VecMonitor(venv)).learn(10_000)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

import randgym  # noqa: F401  (registers the envs)
from randgym.envs.batching import batch_index


class NativeVecEnv(VecEnv):
    """An SB3 `VecEnv` over a Gymnasium vector env that autoresets in the same step.

    Attributes and methods asked of the sub-envs (`get_attr`, `env_method`) are those of the
    vector env's single-env template when it has one (randgym's native envs do), else of the
    vector env itself: the sub-envs share its rules, so every index gets the same answer.

    Args:
        venv: A vector env with ``autoreset_mode="SameStep"`` (see `make`).
    """

    def __init__(self, venv: VectorEnv) -> None:
        if not isinstance(venv, VectorEnv):
            raise ValueError(f"{venv!r} is not a gymnasium VectorEnv; expected a native vector env")
        mode = venv.metadata.get("autoreset_mode")
        if mode != AutoresetMode.SAME_STEP:
            raise ValueError(
                f"{venv} resets finished sub-envs with autoreset_mode={mode}; SB3 expects "
                f"{AutoresetMode.SAME_STEP.value!r} (make it with NativeVecEnv.make)"
            )
        self.venv = venv
        self._actions: np.ndarray | None = None
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)

    @classmethod
    def make(cls, env_id: str, num_envs: int, **env_kwargs: Any) -> NativeVecEnv:
        """The native vector env of ``env_id`` (its ``vector_entry_point``), adapted."""
        venv = gym.make_vec(
            env_id,
            num_envs=num_envs,
            vectorization_mode="vector_entry_point",
            autoreset_mode=AutoresetMode.SAME_STEP,
            **env_kwargs,
        )
        return cls(venv)

    def reset(self) -> dict[str, np.ndarray]:
        """Resets every sub-env with the seeds of `seed()` and the options of `set_options()`."""
        seeds = None if all(seed is None for seed in self._seeds) else list(self._seeds)
        obs, infos = self.venv.reset(seed=seeds, options=self._shared_options())
        self.reset_infos = [_sub_info(infos, i) for i in range(self.num_envs)]
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        """Keeps the actions (one row per sub-env) for `step_wait`."""
        space = self.venv.action_space
        self._actions = np.asarray(actions).reshape(space.shape).astype(space.dtype, copy=False)

    def step_wait(self) -> VecEnvStepReturn:
        """Steps every sub-env; finished ones restart, their last observation in the info."""
        if self._actions is None:
            raise RuntimeError("step_wait() was called without step_async(actions)")
        obs, rewards, terminated, truncated, infos = self.venv.step(self._actions)
        self._actions = None
        dones = terminated | truncated
        final = infos.get("final_info", {})
        sub_infos = []
        for i in range(self.num_envs):
            if dones[i]:
                info = _sub_info(final, i)
                info["terminal_observation"] = infos["final_obs"][i]
                self.reset_infos[i] = _sub_info({"instance": infos["instance"]}, i)
            else:
                info = _sub_info(infos, i)
            info["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            sub_infos.append(info)
        return obs, rewards.astype(np.float32), dones, sub_infos

    def close(self) -> None:
        """Closes the vector env."""
        self.venv.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        """The RGB frames of all sub-envs (render mode ``rgb_array``)."""
        frames = self.venv.render()
        return [None] * self.num_envs if frames is None else list(frames)

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The attribute of the template env (or of the vector env), once per index."""
        return [getattr(self._source(attr_name), attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Sets the attribute on the template env (or the vector env): all sub-envs share it."""
        setattr(self._source(attr_name), attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs
    ) -> list[Any]:
        """Calls the method of the template env (or of the vector env) once per index."""
        method = getattr(self._source(method_name), method_name)
        return [method(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        """Always False: the sub-envs of a native vector env carry no Gymnasium wrapper."""
        return [False] * len(self._get_indices(indices))

    def _source(self, name: str) -> Any:
        template = getattr(self.venv, "template", None)
        return template if template is not None and hasattr(template, name) else self.venv

    def _get_indices(self, indices: VecEnvIndices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, int | np.integer):
            return [int(indices)]
        return list(indices)

    def _shared_options(self) -> dict[str, Any] | None:
        """The reset options, which a native vector env takes once for all sub-envs."""
        first = self._options[0]
        if any(options != first for options in self._options[1:]):
            raise ValueError(
                f"reset options {self._options} differ between sub-envs; a native vector env "
                "takes one set of options for all of them"
            )
        return dict(first) or None


def _sub_info(infos: dict[str, Any], index: int) -> dict[str, Any]:
    """Sub-env ``index``'s entries of a vector env's info dict (those its ``_key`` masks keep)."""
    out: dict[str, Any] = {}
    for key, value in infos.items():
        mask = infos.get(f"_{key}")
        if key.startswith("_") or key in ("final_obs", "final_info"):
            continue
        if mask is not None and not mask[index]:
            continue
        out[key] = _sub_info(value, index) if isinstance(value, dict) else batch_index(value, index)
    return out
