"""The ask/tell interface shared by every evolution strategy, and the pieces they share.

Sign convention: fitness is **maximized** everywhere in this package. An algorithm that wraps a
minimizer (CMA-ES) negates internally; callers never do.

An evolution strategy is used as::

    es = PEPG(x0, PEPGConfig(), seed=0)
    for _ in range(generations):
        candidates = es.ask()          # (popsize, dim) float32
        es.tell(fitness(candidates))   # (popsize,) finite, higher is better
    es.center                          # the mean of the search distribution, for evaluation

The base class owns the protocol (ask, then tell, then ask...), the validation of fitness, the
generation counter, the best-so-far candidate, the metrics and checkpointing; an algorithm
writes ``_ask`` / ``_tell`` and exposes ``center`` and ``sigma``. Hyperparameters live in a
frozen dataclass, mutable state in another (as in evosax). Each instance owns a
``torch.Generator`` seeded from its ``seed`` argument and never touches the global RNGs.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import Tensor

StateDict = dict[str, Tensor | int | float]


def centered_ranks(fitness: Tensor) -> Tensor:
    """Fitness shaping by centered ranks: the lowest value maps to -0.5, the highest to 0.5.

    Ranks are ``0 .. n-1`` in ascending order, scaled to ``rank / (n - 1) - 0.5``. Tied values
    share the average of their ranks (estool and evosax break ties by index instead, which
    gives tied mirrored pairs a spurious difference). The result sums to 0 and depends only on
    the order of the values. A single value maps to 0.

    Args:
        fitness: Finite values (n,), higher is better.

    Returns:
        The shaped values (n,) as float32.
    """
    n = fitness.numel()
    if n == 1:
        return torch.zeros(1)
    _, inverse, counts = torch.unique(fitness, sorted=True, return_inverse=True, return_counts=True)
    last = counts.cumsum(0) - 1  # rank of the last copy of each distinct value
    average = last - (counts - 1) / 2  # mean rank of the copies of each distinct value
    return (average[inverse] / (n - 1) - 0.5).to(torch.float32)


@dataclasses.dataclass
class AdamState:
    """Adam's moment estimates and step count (mutable)."""

    m: Tensor  # first moment, like the parameters
    v: Tensor  # second moment, like the parameters
    step: int = 0


@dataclasses.dataclass(frozen=True)
class Adam:
    """Adam (Kingma & Ba, 2015) that *ascends* a gradient, with decoupled weight decay.

    One step with gradient ``g`` at step ``t`` (after increment)::

        x <- x * (1 - lr * weight_decay)              (AdamW's decoupled decay)
        m <- beta1 m + (1 - beta1) g;  v <- beta2 v + (1 - beta2) g^2
        x <- x + lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
    """

    lr: float
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0

    def init(self, params: Tensor) -> AdamState:
        """Zero moments shaped like ``params``."""
        return AdamState(m=torch.zeros_like(params), v=torch.zeros_like(params))

    def ascend(self, params: Tensor, grad: Tensor, state: AdamState) -> None:
        """Move ``params`` in place along ``grad`` and update ``state`` in place."""
        state.step += 1
        if self.weight_decay:
            params.mul_(1 - self.lr * self.weight_decay)
        state.m.lerp_(grad, 1 - self.beta1)
        state.v.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
        m_hat = state.m / (1 - self.beta1**state.step)
        v_hat = state.v / (1 - self.beta2**state.step)
        params.add_(self.lr * m_hat / (v_hat.sqrt_() + self.eps))


def require_positive(**values: float) -> None:
    """Raise ValueError naming the first value that is not > 0 (NaN included)."""
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name}={value!r} is invalid; expected a value > 0")


def require_popsize(popsize: int, minimum: int = 2) -> None:
    """Raise ValueError unless ``popsize`` is an int >= ``minimum``."""
    if isinstance(popsize, bool) or not isinstance(popsize, int) or popsize < minimum:
        raise ValueError(f"popsize={popsize!r} is invalid; expected an int >= {minimum}")


def _flatten(state: Any, prefix: str) -> StateDict:
    """The fields of a (nested) dataclass as ``{prefix + dotted name: value}``, tensors cloned."""
    flat: StateDict = {}
    for field in dataclasses.fields(state):
        value = getattr(state, field.name)
        key = prefix + field.name
        if dataclasses.is_dataclass(value):
            flat.update(_flatten(value, key + "."))
        else:
            flat[key] = value.clone() if isinstance(value, Tensor) else value
    return flat


def _rebuild(template: Any, flat: StateDict, prefix: str) -> Any:
    """A new dataclass like ``template`` with values from ``flat``, checked against it."""
    values = {}
    for field in dataclasses.fields(template):
        old = getattr(template, field.name)
        key = prefix + field.name
        if dataclasses.is_dataclass(old):
            values[field.name] = _rebuild(old, flat, key + ".")
        elif isinstance(old, Tensor):
            new = flat[key]
            if not isinstance(new, Tensor) or new.shape != old.shape or new.dtype != old.dtype:
                got = f"{new.dtype} {tuple(new.shape)}" if isinstance(new, Tensor) else repr(new)
                raise ValueError(
                    f"state_dict[{key!r}] is {got}; expected {old.dtype} {tuple(old.shape)}"
                )
            values[field.name] = new.clone()
        else:
            values[field.name] = type(old)(flat[key])
    return type(template)(**values)


class EvolutionStrategy(ABC):
    """Base class: the ask/tell protocol, bookkeeping and checkpointing (fitness is maximized).

    Everything lives on the CPU in float32 (pycma's internals excepted); move candidates to
    another device for evaluation yourself.

    Attributes:
        x0: The initial center (dim,) float32.
        popsize: Candidates per generation.
        dim: Length of a parameter vector.
        generation: Number of completed ``tell`` calls.
        best_fitness: Highest fitness told so far (``-inf`` before the first tell).
        best_params: The candidate that had ``best_fitness`` (None before the first tell).
    """

    def __init__(self, x0: Tensor, popsize: int, seed: int) -> None:
        """Validate the shared arguments and seed the private generator.

        Args:
            x0: The initial center, a finite 1-D tensor (copied, converted to float32).
            popsize: Candidates per generation.
            seed: Seed of this instance's ``torch.Generator`` (a non-negative int).

        Raises:
            ValueError: If an argument is invalid.
        """
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed={seed!r} is invalid; expected a non-negative int")
        x0 = torch.as_tensor(x0)
        if x0.dim() != 1 or x0.numel() == 0 or not torch.isfinite(x0).all():
            raise ValueError(
                f"x0 of shape {tuple(x0.shape)} is invalid; expected a finite, non-empty 1-D tensor"
            )
        require_popsize(popsize)
        self.x0 = x0.detach().to(device="cpu", dtype=torch.float32).clone()
        self.popsize = popsize
        self.dim = self.x0.numel()
        self.generation = 0
        self.best_fitness = -math.inf
        self.best_params: Tensor | None = None
        self._generator = torch.Generator().manual_seed(seed)
        self._pending: Tensor | None = None
        self._last_fitness: Tensor | None = None

    # --- what an algorithm provides ----------------------------------------------------------

    @property
    @abstractmethod
    def center(self) -> Tensor:
        """The mean of the search distribution (dim,) float32, a copy: use it for evaluation."""

    @property
    @abstractmethod
    def sigma(self) -> Tensor:
        """Per-coordinate standard deviation of the search distribution (dim,) float32."""

    @abstractmethod
    def _ask(self) -> Tensor:
        """Sample the candidates (popsize, dim) float32 of this generation."""

    @abstractmethod
    def _tell(self, candidates: Tensor, fitness: Tensor) -> None:
        """Update the search distribution from validated fitness (popsize,) float64."""

    @abstractmethod
    def _export_state(self) -> Any:
        """The algorithm's mutable state as a dataclass of tensors, numbers and dataclasses."""

    @abstractmethod
    def _import_state(self, state: Any) -> None:
        """Adopt a state built like the one ``_export_state`` returns."""

    def _randn(self, *shape: int, dtype: torch.dtype = torch.float32) -> Tensor:
        """Standard normal numbers from this instance's generator (the only source of noise)."""
        return torch.randn(shape, generator=self._generator, dtype=dtype)

    # --- the protocol ------------------------------------------------------------------------

    def ask(self) -> Tensor:
        """Sample this generation's candidates.

        Returns:
            Candidates (popsize, dim) float32. Evaluate them without modifying them in place.

        Raises:
            RuntimeError: If the previous ``ask`` has not been answered by ``tell``.
        """
        if self._pending is not None:
            raise RuntimeError("ask() called twice; call tell(fitness) for the pending candidates")
        candidates = self._ask()
        assert candidates.shape == (self.popsize, self.dim), candidates.shape
        self._pending = candidates
        return candidates

    def tell(self, fitness: Tensor) -> None:
        """Update the search distribution with the fitness of the last asked candidates.

        Args:
            fitness: (popsize,) finite values, one per candidate in ``ask`` order; higher is
                better. Tensors, arrays and sequences are accepted.

        Raises:
            RuntimeError: If there was no ``ask`` since the last ``tell``.
            ValueError: If ``fitness`` has the wrong shape or a NaN or infinite value.
        """
        if self._pending is None:
            raise RuntimeError("tell() without a pending ask(); call ask() first")
        fitness = torch.as_tensor(fitness).detach().to(device="cpu", dtype=torch.float64)
        if fitness.shape != (self.popsize,):
            raise ValueError(
                f"fitness of shape {tuple(fitness.shape)} is invalid; expected ({self.popsize},)"
            )
        bad = (~torch.isfinite(fitness)).nonzero().flatten()
        if bad.numel():
            raise ValueError(
                f"fitness has non-finite values at indices {bad.tolist()[:10]} "
                f"({fitness[bad[0]].item()} first); expected finite values"
            )
        candidates, self._pending = self._pending, None
        self._tell(candidates, fitness)
        best = int(fitness.argmax())
        if fitness[best].item() > self.best_fitness:
            self.best_fitness = fitness[best].item()
            self.best_params = candidates[best].clone()
        self._last_fitness = fitness
        self.generation += 1

    @property
    def metrics(self) -> dict[str, float]:
        """Scalars to log: the last told fitness and the current search distribution.

        Keys: ``generation``, ``fitness_mean``, ``fitness_std``, ``fitness_min``,
        ``fitness_max`` (NaN before the first tell), ``best_fitness``, ``sigma_mean``,
        ``sigma_min``, ``sigma_max``, ``center_norm``.
        """
        f = self._last_fitness
        nan = math.nan
        sigma = self.sigma
        return {
            "generation": self.generation,
            "fitness_mean": nan if f is None else f.mean().item(),
            "fitness_std": nan if f is None else f.std(correction=0).item(),
            "fitness_min": nan if f is None else f.min().item(),
            "fitness_max": nan if f is None else f.max().item(),
            "best_fitness": self.best_fitness,
            "sigma_mean": sigma.mean().item(),
            "sigma_min": sigma.min().item(),
            "sigma_max": sigma.max().item(),
            "center_norm": self.center.norm().item(),
        }

    # --- checkpointing -----------------------------------------------------------------------

    def state_dict(self) -> StateDict:
        """Everything needed to continue bit-identically: tensors and plain numbers only.

        Keys: ``popsize``, ``generation``, ``best_fitness``, ``best_params`` (empty before the
        first tell), ``generator`` (the uint8 state of the private generator) and
        ``state.<field>`` for the algorithm's state. Save it with ``torch.save`` and load it
        with ``torch.load(weights_only=True)``.

        Raises:
            RuntimeError: Between ``ask`` and ``tell`` (a generation is in flight).
        """
        if self._pending is not None:
            raise RuntimeError("state_dict() between ask() and tell(); call it after tell()")
        return {
            "popsize": self.popsize,
            "generation": self.generation,
            "best_fitness": self.best_fitness,
            "best_params": torch.empty(0) if self.best_params is None else self.best_params.clone(),
            "generator": self._generator.get_state(),
            **_flatten(self._export_state(), "state."),
        }

    def load_state_dict(self, state_dict: StateDict) -> None:
        """Restore a ``state_dict`` of an instance with the same class, dim and config.

        Everything is validated before anything changes; a pending ``ask`` is discarded.

        Raises:
            ValueError: If keys are missing or unexpected, or a value has the wrong shape,
                dtype or popsize.
        """
        expected = set(self._state_keys())
        if set(state_dict) != expected:
            missing, extra = sorted(expected - set(state_dict)), sorted(set(state_dict) - expected)
            raise ValueError(f"state_dict keys do not match: missing {missing}, unexpected {extra}")
        if state_dict["popsize"] != self.popsize:
            raise ValueError(f"state_dict popsize={state_dict['popsize']}; expected {self.popsize}")
        state = _rebuild(self._export_state(), state_dict, "state.")
        best = state_dict["best_params"]
        if not isinstance(best, Tensor) or best.shape not in ((0,), (self.dim,)):
            raise ValueError(
                f"state_dict['best_params'] is invalid; expected ({self.dim},) or (0,)"
            )
        generator_state = state_dict["generator"]
        torch.Generator().set_state(generator_state)  # raises on a malformed state
        self._import_state(state)
        self._generator.set_state(generator_state)
        self.generation = int(state_dict["generation"])
        self.best_fitness = float(state_dict["best_fitness"])
        self.best_params = None if best.numel() == 0 else best.to(torch.float32).clone()
        self._pending = None
        self._last_fitness = None

    def _state_keys(self) -> list[str]:
        base = ["popsize", "generation", "best_fitness", "best_params", "generator"]
        return base + list(_flatten(self._export_state(), "state."))
