"""One adversary for every sub-env of a Gymnasium vector env, kept in the main process.

`AdversarialInstances` wraps a single env, so under `gym.make_vec(..., "async", wrappers=[...])`
every worker process holds its own copy of the adversary, and each copy sees only its worker's
episodes. Here the adversary stays in the main process: `AdversarialVectorInstances` chooses the
instance of every episode of every sub-env and observes every finished episode's return.

A vector env restarts a finished sub-env inside its worker, with a plain `reset()` that takes
no instance. So each sub-env carries an `InstanceSlot` holding the instance of its next episode:
the wrapper fills the slot of every sub-env whose episode has just ended, before the step that
restarts it, and a reset with an empty slot is an error.

    venv = gym.make_vec("RandAlg/GraphColoring-v0", num_envs=4, vectorization_mode="async",
                        wrappers=[InstanceSlot])
    venv = AdversarialVectorInstances(venv, TrackingAdversary(q=8))
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper

from randgym.envs.generator import InstanceGenerator
from randgym.wrappers.adversarial import Adversary


def bind_adversary(adversary: Adversary, generator: Any) -> Adversary:
    """`adversary`, bound to the sub-envs' `generator` (refused unless it is a randgym one)."""
    if not isinstance(generator, InstanceGenerator):
        raise ValueError(f"the sub-envs' generator {generator!r} is not a randgym generator")
    adversary.bind(generator)
    return adversary


class InstanceSlot(gym.Wrapper):
    """A sub-env whose next episode starts on the instance loaded into its slot.

    A reset with `options["instance"]` uses that instance. Any other reset (a vector env's
    auto-reset in a worker) takes the loaded instance and empties the slot; with an empty slot
    it raises RuntimeError, so no episode starts on an instance the main process did not choose.

    Args:
        env: A randgym env (or a wrapper of one).
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.loaded: Any = None

    def load_instance(self, instance: Any) -> None:
        """Sets the instance of the next episode that is not given one in its reset options."""
        self.loaded = instance

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Resets the env on the instance of the options, or else on the loaded one."""
        options = dict(options or {})
        if options.get("instance") is None:
            if self.loaded is None:
                raise RuntimeError(
                    "InstanceSlot has no instance loaded for this reset; wrap the vector env "
                    "with AdversarialVectorInstances (Gymnasium) or AdversarialVecEnv (SB3), or "
                    "call load_instance before every episode"
                )
            options["instance"], self.loaded = self.loaded, None
        return self.env.reset(seed=seed, options=options)


class AdversarialVectorInstances(VectorWrapper):
    """Lets one adversary, in this process, choose the instances of all sub-envs of a vector env.

    Every sub-env must be wrapped in `InstanceSlot` (``gym.make_vec(..., wrappers=[InstanceSlot])``)
    and the vector env must auto-reset on the next step (Gymnasium's default). The adversary is
    bound to the sub-envs' instance generator, proposes the instance of every episode and
    observes the return of every finished one; `episodes` counts them. Put reward-changing
    wrappers outside this one, so the adversary sees the env's own returns.

    Args:
        env: A `SyncVectorEnv` or `AsyncVectorEnv` of randgym envs, each in an `InstanceSlot`.
        adversary: The adversary (bound here if it is not yet).
    """

    def __init__(self, env: VectorEnv, adversary: Adversary) -> None:
        super().__init__(env)
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if mode != AutoresetMode.NEXT_STEP:
            raise ValueError(
                f"autoreset_mode={mode}: AdversarialVectorInstances needs AutoresetMode.NEXT_STEP "
                "(Gymnasium's default), which restarts a sub-env on the step after its episode"
            )
        try:
            generator = env.get_attr("generator")[0]
            env.get_attr("loaded")
        except AttributeError:
            raise ValueError(
                "every sub-env must be a randgym env wrapped in InstanceSlot: "
                "gym.make_vec(env_id, num_envs, vectorization_mode, wrappers=[InstanceSlot])"
            ) from None
        self.adversary = bind_adversary(adversary, generator)
        self.episodes = 0
        self._current: list[Any] = [None] * self.num_envs  # the instance each sub-env plays
        self._returns = np.zeros(self.num_envs)
        self._ended = np.zeros(self.num_envs, dtype=bool)  # restarted by the next step

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Starts every sub-env on a proposed instance; unfinished episodes are not observed."""
        if options and "instance" in options:
            raise ValueError("the adversary chooses the instances: drop options['instance']")
        self._current = [self.adversary.propose() for _ in range(self.num_envs)]
        self.env.set_attr("loaded", self._current)
        self._returns[:] = 0.0
        self._ended[:] = False
        return self.env.reset(seed=seed, options=options)

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        """Steps the sub-envs; the adversary observes each finished episode's return."""
        obs, rewards, terminations, truncations, infos = self.env.step(actions)
        self._returns = np.where(self._ended, 0.0, self._returns + rewards)  # restarts: 0
        self._ended = np.logical_or(terminations, truncations)
        ended = np.flatnonzero(self._ended)
        for index in ended:
            self.adversary.observe(self._current[index], float(self._returns[index]))
            self.episodes += 1
        if ended.size:
            loaded = [None] * self.num_envs
            for index in ended:
                loaded[index] = self._current[index] = self.adversary.propose()
            self.env.set_attr("loaded", loaded)
        return obs, rewards, terminations, truncations, infos
