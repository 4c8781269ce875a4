"""What a task is: one registered env plus everything a model needs to learn and be scored on it.

A ``Task`` owns, for one env id: the env (its instance generator comes from the registered
env), the size kwarg that sets N, the model presets (the paper's and ours), how a model plays
the env in the evolution pipeline (``make_player``) and the classical baselines. A
``SupervisedTask`` adds what the gradient pipeline needs: batches of instances as tensors,
logits, the per-sample loss, the success predicate, the majority vote and the evaluation set,
plus its training defaults. Scripts and trainers ask a task, never test its name.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from torch import Tensor

import randgym  # noqa: F401  (registers the envs)
from agents.models import memory
from agents.models.transformer import SeededTransformer, TransformerConfig
from agents.tasks.similarity import SimilarViews

Batch = dict[str, Tensor]  # a batch of instances as named tensors, first dim the instances


@dataclasses.dataclass(frozen=True)
class Baseline:
    """A classical algorithm: ``make(policy_seed)`` is a policy ``obs -> action``.

    A deterministic one (``randomized=False``) ignores its seed. ``batch_returns(instances,
    n_seeds)``, when given, is a fast path equal to playing the episodes: the returns (I,) of
    a batch of instances averaged over the policy seeds ``range(n_seeds)``.
    """

    name: str
    make: Callable[[int], Callable[[dict], Any]]
    randomized: bool
    batch_returns: Callable[[Any, int], np.ndarray] | None = None


class Task(ABC):
    """One registered env and what a seeded model needs to play it.

    Args:
        **env_kwargs: Keyword arguments of the env (``size_kwarg`` sets N); the defaults are
            the env's own.
    """

    name: ClassVar[str]  # the registry key, e.g. "recall"
    env_id: ClassVar[str]  # the registered Gymnasium id
    size_kwarg: ClassVar[str]  # the env kwarg that sets the task's size N
    presets: ClassVar[dict[str, dict[str, Any]]]  # model presets: "paper" first, then ours
    # evolution-strategy runs (EvolveConfig fields) by name; "default" is what evolve.py runs
    evolution_presets: ClassVar[dict[str, dict[str, Any]]]

    def __init__(self, **env_kwargs: Any) -> None:
        self.env_kwargs = env_kwargs
        self.env = gym.make(self.env_id, **env_kwargs).unwrapped
        self.generator = self.env.generator

    @property
    def size(self) -> int:
        """N: the value of the size kwarg (the env's default when not given)."""
        return int(getattr(self.env.dynamics, self.size_kwarg))

    @property
    def spec(self) -> dict[str, Any]:
        """What identifies the task in a checkpoint: its name and env kwargs."""
        return {"name": self.name, **self.env_kwargs}

    @property
    def num_instances(self) -> int | None:
        """The number of distinct instances (None when infinite)."""
        return self.generator.num_instances

    def model_config(
        self, preset: str = "paper", player_options: dict[str, Any] | None = None, **overrides: Any
    ) -> TransformerConfig:
        """The config of model ``preset`` sized for this task, with field overrides.

        ``player_options`` are those of ``make_player`` where they change the token size.

        Raises:
            ValueError: If the preset or an override field is unknown.
        """
        if preset not in self.presets:
            raise ValueError(f"preset {preset!r} is unknown; expected one of {list(self.presets)}")
        fields = {field.name for field in dataclasses.fields(memory.MemoryConfig)}
        if unknown := sorted(set(overrides) - fields):
            raise ValueError(f"unknown config fields {unknown}; expected some of {sorted(fields)}")
        sizes = self.sizes(**(player_options or {}))
        return memory.model_config(**{**self.presets[preset], **sizes, **overrides})

    def sizes(self, **player_options: Any) -> dict[str, Any]:
        """The config fields the env sets through its player: input_dim, output_dim, max_len."""
        player = self.make_player(**player_options)
        return {"input_dim": player.input_dim, "output_dim": player.output_dim,
                "max_len": player.length}  # fmt: skip

    @abstractmethod
    def make_player(self, **options: Any) -> Any:
        """How a model plays this env in the evolution pipeline (a ``Player``)."""

    def baselines(self) -> list[Baseline]:
        """The classical algorithms to compare a trained model with."""
        return []

    def references(self) -> dict[str, dict[str, float]]:
        """Summaries (average, p95, worst) of exactly computed reference strategies, by name."""
        return {}

    def describe(self, rollouts: Any, out: Path) -> list[str]:
        """Lines (and files in ``out``) that show what a trained model does; none by default."""
        del rollouts, out
        return []

    def similar_views(self, batch: Batch, rng: np.random.Generator) -> SimilarViews:
        """Each input's similar partner, for the contrastive idea loss (see similarity.py).

        Raises:
            ValueError: If the task defines no similar inputs (the default).
        """
        del batch, rng
        raise ValueError(f"task {self.name!r} defines no similar inputs for the idea loss")


class SupervisedTask(Task):
    """A one-step task trained by gradient descent on the q-norm loss."""

    train_defaults: ClassVar[dict[str, Any]]  # TrainConfig fields for this task
    # evolution is not the paper's method for these tasks, but any env trains with it: a short
    # run on fresh instances each generation, with a q that still moves 0/1 rewards
    evolution_presets = {
        "default": dict(
            instances=256, q=4.0, es={"popsize": 64, "sigma_init": 0.1}, generations=100
        ),
    }  # fmt: skip
    policy_seed_length: int | None = None  # tokens that get their own seed (per-token seeds)

    @abstractmethod
    def batch(self, instances: Any) -> Batch:
        """Tensors of a batch of generator instances."""

    def sample(self, rng: np.random.Generator, n: int) -> Batch:
        """``n`` fresh instances from the env generator's batch sampler."""
        return self.batch(self.generator.sample_batch(rng, n))

    @abstractmethod
    def evaluation_set(self, rng: np.random.Generator, quick: bool = False) -> Batch:
        """The instances a model is scored on (``quick``: a cheap subset for training logs)."""

    @abstractmethod
    def logits(self, model: SeededTransformer, batch: Batch, policy_seed: Tensor) -> Tensor:
        """Output logits (B, S, ...) of every instance under every policy seed."""

    @abstractmethod
    def loss(self, logits: Tensor, batch: Batch) -> Tensor:
        """The per-sample loss (B, S), non-negative."""

    @abstractmethod
    def predict(self, logits: Tensor) -> Tensor:
        """The argmax output (B, S, ...)."""

    @abstractmethod
    def correct(self, prediction: Tensor, batch: Batch) -> Tensor:
        """Whether outputs (B, K, ...) are right, (B, K) bool."""

    @abstractmethod
    def vote(self, prediction: Tensor, dim: int) -> Tensor:
        """The majority vote of outputs along ``dim``, kept with size 1."""

    @abstractmethod
    def sampled_success(self, logits: Tensor, batch: Batch) -> Tensor:
        """P(right) when the output is sampled from the predicted distribution, (B, S)."""

    @abstractmethod
    def probabilities(self, logits: Tensor) -> Tensor:
        """Predictive probabilities (B, S, units) whose variance over seeds is reported."""
