"""The mirrored-sampling core shared by PGPE and OpenES.

A diagonal Gaussian around ``center``, mirrored (antithetic) pairs, centered-rank fitness
shaping and Adam on the center; subclasses choose the ascent direction and whether ``sigma``
adapts.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from agents.evolution.es.base import (
    Adam,
    AdamState,
    EvolutionStrategy,
    centered_ranks,
    require_popsize,
    require_positive,
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class MirroredConfig:
    """Hyperparameters shared by the mirrored-sampling strategies (PEPG, OpenES)."""

    popsize: int = 64  # even: candidates come as mirrored pairs (center + eps, center - eps)
    center_lr: float = 0.01  # Adam's step size on the center
    sigma_init: float = 0.03  # initial standard deviation of every coordinate
    weight_decay: float = 0.0  # decoupled (AdamW): center *= 1 - center_lr * weight_decay

    def __post_init__(self) -> None:
        require_popsize(self.popsize)
        if self.popsize % 2:
            raise ValueError(
                f"popsize={self.popsize} is invalid; expected an even number (mirrored pairs)"
            )
        require_positive(center_lr=self.center_lr, sigma_init=self.sigma_init)
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay={self.weight_decay!r} is invalid; expected >= 0")


@dataclasses.dataclass
class MirroredState:
    """Mutable state of a mirrored-sampling strategy."""

    center: Tensor  # (dim,) the mean of the search distribution
    sigma: Tensor  # (dim,) per-coordinate standard deviation
    adam: AdamState  # Adam's moments for the center


class MirroredES(EvolutionStrategy):
    """Mirrored Gaussian sampling with centered ranks and Adam on the center.

    ``ask`` draws ``z`` (P/2, dim) standard normal, ``eps = sigma * z``, and returns the
    candidates ``[center + eps; center - eps]``: row ``i`` and row ``i + P/2`` are a pair.
    ``tell`` shapes the fitness by centered ranks into ``r+`` (first half) and ``r-`` (second
    half), asks ``_center_gradient`` for the ascent direction, lets ``_update_sigma`` adapt
    ``sigma`` (a no-op here) and takes one Adam step on the center.
    """

    config: MirroredConfig

    def __init__(self, x0: Tensor, config: MirroredConfig, seed: int) -> None:
        """Start at ``x0`` with ``sigma = config.sigma_init`` everywhere.

        Args:
            x0: The initial center (dim,).
            config: Hyperparameters.
            seed: Seed of the private generator.
        """
        super().__init__(x0, config.popsize, seed)
        self.config = config
        self._adam = Adam(lr=config.center_lr, weight_decay=config.weight_decay)
        self.state = MirroredState(
            center=self.x0.clone(),
            sigma=torch.full((self.dim,), float(config.sigma_init)),
            adam=self._adam.init(self.x0),
        )
        self._eps: Tensor | None = None  # (P/2, dim) perturbations of the pending generation

    @property
    def center(self) -> Tensor:
        """The mean of the search distribution (dim,) float32, a copy."""
        return self.state.center.clone()

    @property
    def sigma(self) -> Tensor:
        """Per-coordinate standard deviation (dim,) float32, a copy."""
        return self.state.sigma.clone()

    def _ask(self) -> Tensor:
        self._eps = self._randn(self.popsize // 2, self.dim).mul_(self.state.sigma)
        return torch.cat([self.state.center + self._eps, self.state.center - self._eps])

    def _tell(self, candidates: Tensor, fitness: Tensor) -> None:
        eps, self._eps = self._eps, None
        shaped = centered_ranks(fitness)
        r_plus, r_minus = shaped[: len(eps)], shaped[len(eps) :]
        grad = self._center_gradient(eps, r_plus, r_minus)
        self._update_sigma(eps, r_plus, r_minus)
        self._adam.ascend(self.state.center, grad, self.state.adam)

    def _center_gradient(self, eps: Tensor, r_plus: Tensor, r_minus: Tensor) -> Tensor:
        """PGPE's ascent direction ``g = mean_i eps_i * (r+_i - r-_i) / 2`` (dim,)."""
        return ((r_plus - r_minus) / 2) @ eps / len(eps)

    def _update_sigma(self, eps: Tensor, r_plus: Tensor, r_minus: Tensor) -> None:
        """Adapt ``self.state.sigma``; the base keeps it fixed."""

    def _export_state(self) -> MirroredState:
        return self.state

    def _import_state(self, state: MirroredState) -> None:
        self.state = state
