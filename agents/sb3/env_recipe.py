"""`EnvRecipe`: how an SB3 run's env is made, as JSON, so that it can be made again.

An SB3 model acts in the env it was trained in: the randgym env plus the observation
wrappers it saw (`TokenHistory` for transformer features, then `PolicySeedObservation`). The
recipe is a small frozen dataclass of JSON values, saved with the run and called to make the
env for training (each sub-env, also in worker processes) and again for the evaluation.
`find_wrapper` finds one of the wrappers in a made env.

    recipe = EnvRecipe("RandAlg/GridExplore-v0", token_history=True, seed_bits=16)
    env = recipe()
    recipe = EnvRecipe(**json.loads(text))
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

import gymnasium as gym

import randgym  # noqa: F401  (registers the envs)
from agents.runs.checkpoint import check_env_id
from agents.sb3.history import TokenHistory
from randgym.wrappers import PolicySeedObservation

WrapperT = TypeVar("WrapperT", bound=gym.Wrapper)


@dataclass(frozen=True)
class EnvRecipe:
    """A randgym env and its observation wrappers (validated on construction).

    Attributes:
        env_id: A registered ``RandAlg/`` id.
        env_kwargs: The env's keyword arguments.
        token_history: Observe the episode's tokens so far (`TokenHistory`).
        seed_bits: Bits of a per-episode policy seed in the observation
            (`PolicySeedObservation`), or None for none.
    """

    env_id: str
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    token_history: bool = False
    seed_bits: int | None = None

    def __post_init__(self) -> None:
        check_env_id(self.env_id)
        if not isinstance(self.env_kwargs, dict):
            raise ValueError(f"env_kwargs={self.env_kwargs!r} is invalid; expected a dict")
        if not isinstance(self.token_history, bool):
            raise ValueError(f"token_history={self.token_history!r} is invalid; expected a bool")
        try:
            self().close()  # a bad kwarg value or seed size fails here, naming itself
        except TypeError as error:  # an unknown kwarg
            message = f"env_kwargs {self.env_kwargs} do not fit {self.env_id}: {error}"
            raise ValueError(message) from None

    def __call__(self) -> gym.Env:
        """A fresh env."""
        env = gym.make(self.env_id, **self.env_kwargs)
        if self.token_history:
            env = TokenHistory(env)
        if self.seed_bits is not None:
            env = PolicySeedObservation(env, bits=self.seed_bits)
        return env

    def to_json(self) -> dict[str, Any]:
        """The recipe as a JSON-able dict (``EnvRecipe(**d)`` makes it again)."""
        return dataclasses.asdict(self)


def find_wrapper(env: gym.Env, wrapper_class: type[WrapperT]) -> WrapperT | None:
    """The outermost wrapper of ``env`` that is a ``wrapper_class``, or None."""
    layer = env
    while isinstance(layer, gym.Wrapper):
        if isinstance(layer, wrapper_class):
            return layer
        layer = layer.env
    return None
