"""OpenES (Salimans et al., 2017): PGPE's mirrored core with a fixed, isotropic sigma."""

from __future__ import annotations

import dataclasses

from torch import Tensor

from agents.evolution.es.mirrored import MirroredConfig, MirroredES


@dataclasses.dataclass(frozen=True, kw_only=True)
class OpenESConfig(MirroredConfig):
    """OpenES hyperparameters: the mirrored ones; sigma stays at ``sigma_init``."""


class OpenES(MirroredES):
    """The OpenAI evolution strategy with mirrored sampling, centered ranks and Adam.

    With ``h = P/2`` pairs ``center +- sigma z_i`` and centered-rank fitness ``r+_i``, ``r-_i``,
    the ascent direction is the search-gradient estimate::

        g = 1/h sum_i z_i (r+_i - r-_i) / (2 sigma)

    and the center takes one Adam step along ``g``; sigma never changes.
    """

    config: OpenESConfig

    def __init__(self, x0: Tensor, config: OpenESConfig | None = None, *, seed: int) -> None:
        """Start at ``x0``.

        Args:
            x0: The initial center (dim,).
            config: Hyperparameters; ``OpenESConfig()`` if None.
            seed: Seed of the private ``torch.Generator``.
        """
        super().__init__(x0, OpenESConfig() if config is None else config, seed)

    def _center_gradient(self, eps: Tensor, r_plus: Tensor, r_minus: Tensor) -> Tensor:
        # z_i / sigma = eps_i / sigma^2: PGPE's direction rescaled per coordinate
        return super()._center_gradient(eps, r_plus, r_minus) / self.state.sigma.square()
