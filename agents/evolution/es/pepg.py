"""PGPE (Sehnke et al., 2010), the paper's grid-world optimizer.

``PEPG`` adds the adaptation of the per-coordinate ``sigma`` to the mirrored-sampling core
(``agents.evolution.es.mirrored``); its formulas are in ``PEPG``. It is our own PGPE, not a
copy of evosax 0.1.x's (the version the paper's code pins): the sign convention of the sigma
update, Adam's betas, the sigma floor (evosax: 0.01) and the fitness shaping differ.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import Tensor

from agents.evolution.es.base import require_positive
from agents.evolution.es.mirrored import MirroredConfig, MirroredES


@dataclasses.dataclass(frozen=True, kw_only=True)
class PEPGConfig(MirroredConfig):
    """PEPG hyperparameters. Defaults are the paper's except ``popsize`` (see ``paper()``)."""

    std_lr: float = 0.01  # step size of the sigma update (0 keeps sigma fixed)
    sigma_min: float = 1e-6  # sigma is clipped to [sigma_min, sigma_max] after each update
    sigma_max: float = math.inf
    sigma_max_change: float = 0.2  # largest relative change of sigma per generation

    def __post_init__(self) -> None:
        super().__post_init__()
        require_positive(sigma_min=self.sigma_min, sigma_max_change=self.sigma_max_change)
        if not self.std_lr >= 0:
            raise ValueError(f"std_lr={self.std_lr!r} is invalid; expected >= 0")
        if not self.sigma_min <= self.sigma_init <= self.sigma_max:
            raise ValueError(
                f"sigma_init={self.sigma_init!r} is invalid; expected sigma_min="
                f"{self.sigma_min!r} <= sigma_init <= sigma_max={self.sigma_max!r}"
            )
        if not self.sigma_max_change < 1:
            raise ValueError(
                f"sigma_max_change={self.sigma_max_change!r} is invalid; expected 0 < value < 1"
            )

    @classmethod
    def paper(cls) -> PEPGConfig:
        """The grid-world setting of the paper (section 3.4, App. D).

        Population 300, center lr 0.01, std lr 0.01, init std 0.03.
        """
        return cls(popsize=300, center_lr=0.01, std_lr=0.01, sigma_init=0.03)


class PEPG(MirroredES):
    """Parameter-exploring policy gradients with symmetric sampling (Sehnke et al., 2010).

    With P candidates, ``h = P/2`` mirrored pairs ``center +- eps_i`` and their centered-rank
    fitness ``r+_i``, ``r-_i`` (baseline ``b = mean(r)``, which is 0 for centered ranks), one
    ``tell`` computes, per coordinate::

        g_center = 1/h sum_i eps_i (r+_i - r-_i) / 2
        g_sigma  = 1/h sum_i ((r+_i + r-_i) / 2 - b) (eps_i^2 - sigma^2) / sigma
        sigma   <- clip(sigma + clip(std_lr g_sigma, -c sigma, c sigma), sigma_min, sigma_max)
        center  <- Adam ascent step with g_center (lr center_lr, optional weight decay)

    with ``c = sigma_max_change``. Both gradients use the sigma of the asked generation; the
    ``1/h`` normalisation is the mean over pairs.

    Example:
        >>> es = PEPG(torch.zeros(3), PEPGConfig(popsize=4), seed=0)
        >>> x = es.ask()
        >>> es.tell(-(x - 1).square().sum(dim=1))
    """

    config: PEPGConfig

    def __init__(self, x0: Tensor, config: PEPGConfig | None = None, *, seed: int) -> None:
        """Start at ``x0``.

        Args:
            x0: The initial center (dim,), e.g. the flattened initial weights of a model.
            config: Hyperparameters; ``PEPGConfig()`` if None, ``PEPGConfig.paper()`` for the
                paper's.
            seed: Seed of the private ``torch.Generator``.
        """
        super().__init__(x0, PEPGConfig() if config is None else config, seed)

    def _update_sigma(self, eps: Tensor, r_plus: Tensor, r_minus: Tensor) -> None:
        config, sigma = self.config, self.state.sigma
        weight = (r_plus + r_minus) / 2 - torch.cat([r_plus, r_minus]).mean()  # (h,)
        # sum_i w_i (eps_i^2 - sigma^2) / sigma without an (h, dim) temporary for the difference
        grad = (weight @ eps.square() - weight.sum() * sigma.square()) / sigma / len(eps)
        bound = config.sigma_max_change * sigma
        change = (config.std_lr * grad).clamp_(-bound, bound)
        self.state.sigma = (sigma + change).clamp_(config.sigma_min, config.sigma_max)
