"""One adversary for every sub-env of an SB3 VecEnv, kept in the main process.

`AdversarialInstances` wraps a single env, so under `SubprocVecEnv` every worker process holds
its own copy of the adversary, and each copy sees only its worker's episodes. Here the
adversary stays in the main process: `AdversarialVecEnv` chooses the instance of every episode
of every sub-env and observes every finished episode's return.

SB3 restarts a finished sub-env inside its worker, with a plain `reset()` that takes no
options. So each sub-env carries an `InstanceSlot` holding the instance of its next episode:
`AdversarialVecEnv` fills the slot of sub-env i as soon as i starts an episode, the worker's
auto-reset empties it, and a reset with an empty slot is an error. An explicit `reset()` of
the VecEnv passes the instances as reset options instead.

    venv = make_adversarial_vec_env(
        "RandAlg/GraphColoring-v0", TrackingAdversary(q=8), n_envs=4, vec_env_cls=SubprocVecEnv
    )
    PPO("MultiInputPolicy", venv).learn(10_000)

The adversary learns one step late: the next instance of sub-env i is chosen when its current
episode starts, before that episode's return is known.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from randgym.wrappers import Adversary, InstanceSlot
from randgym.wrappers.vector_adversarial import bind_adversary


class AdversarialVecEnv(VecEnvWrapper):
    """Lets one adversary, in this process, choose the instances of all sub-envs of a VecEnv.

    Every sub-env must be wrapped in `InstanceSlot` (`make_adversarial_vec_env` does it).
    The adversary is bound to the sub-envs' instance generator, proposes the instance of every
    episode (the ones SB3 auto-resets inside workers too) and observes the return of every
    finished episode; `episodes` counts them. Put reward-changing wrappers (`VecNormalize`)
    outside this one, so the adversary sees the env's own returns. The reset options of a
    `reset()` are the instances; other options set with `set_options` are not passed on.

    Args:
        venv: An SB3 VecEnv of randgym envs, each wrapped in `InstanceSlot`.
        adversary: The adversary (bound here if it is not yet).
    """

    def __init__(self, venv: VecEnv, adversary: Adversary) -> None:
        super().__init__(venv)
        if not all(venv.env_is_wrapped(InstanceSlot)):
            raise ValueError(
                "every sub-env must be wrapped in InstanceSlot; build the VecEnv with "
                "make_adversarial_vec_env or make_vec_env(..., wrapper_class=InstanceSlot)"
            )
        generator = venv.get_attr("generator", indices=[0])[0]
        self.adversary = bind_adversary(adversary, generator)
        self.episodes = 0
        self._current: list[Any] = [None] * self.num_envs  # the instance each sub-env plays
        self._loaded: list[Any] = [None] * self.num_envs  # the instance of its next episode
        self._returns = np.zeros(self.num_envs)

    def reset(self) -> VecEnvObs:
        """Starts every sub-env on a proposed instance; unfinished episodes are not observed."""
        self._current = [self.adversary.propose() for _ in range(self.num_envs)]
        self.venv.set_options([{"instance": instance} for instance in self._current])
        obs = self.venv.reset()
        self._returns[:] = 0.0
        for index in range(self.num_envs):
            self._load_next(index)
        return obs

    def step_wait(self) -> VecEnvStepReturn:
        """Steps the sub-envs; the adversary observes each finished episode's return."""
        obs, rewards, dones, infos = self.venv.step_wait()
        self._returns += rewards
        for index in np.flatnonzero(dones):
            self.adversary.observe(self._current[index], float(self._returns[index]))
            self.episodes += 1
            self._returns[index] = 0.0
            self._current[index] = self._loaded[index]  # what the auto-reset started
            self._load_next(index)
        return obs, rewards, dones, infos

    def _load_next(self, index: int) -> None:
        self._loaded[index] = self.adversary.propose()
        self.venv.env_method("load_instance", self._loaded[index], indices=[index])


def make_adversarial_vec_env(
    env_id: str | Callable[..., gym.Env],
    adversary: Adversary,
    n_envs: int = 1,
    *,
    wrapper_class: Callable[..., gym.Env] | None = None,
    wrapper_kwargs: dict[str, Any] | None = None,
    **make_vec_env_kwargs: Any,
) -> AdversarialVecEnv:
    """SB3's `make_vec_env` with an `InstanceSlot` on every sub-env, under `AdversarialVecEnv`.

    Args:
        env_id: A randgym env id, or a function making the env (as `make_vec_env` takes).
        adversary: The adversary, kept in this process.
        n_envs: The number of sub-envs.
        wrapper_class: A wrapper of each sub-env (e.g. `PolicySeedObservation`), applied
            inside the slot.
        wrapper_kwargs: Its keyword arguments.
        **make_vec_env_kwargs: The other arguments of `make_vec_env` (`seed`, `vec_env_cls`,
            `env_kwargs`, `vec_env_kwargs`, `monitor_dir`, ...).
    """

    def wrap(env: gym.Env) -> gym.Env:
        if wrapper_class is not None:
            env = wrapper_class(env, **(wrapper_kwargs or {}))
        return InstanceSlot(env)

    venv = make_vec_env(env_id, n_envs, wrapper_class=wrap, **make_vec_env_kwargs)
    return AdversarialVecEnv(venv, adversary)
