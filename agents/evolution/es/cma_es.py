"""CMA-ES as a thin adapter over pycma's ``cma.CMAEvolutionStrategy`` (Hansen et al.).

The adapter keeps the package's conventions on top of pycma's:

- Fitness is maximized: pycma minimizes, so ``tell`` hands it the negated fitness.
- Randomness: pycma's option ``seed`` reseeds numpy's *global* RNG unless it is NaN (cma 4.5,
  ``CMAEvolutionStrategy.__init__``: ``if not utils.is_nan(opts['seed'])``). We pass
  ``seed=np.nan`` and the option ``randn`` drawing from this instance's ``torch.Generator``.
  A few pycma code paths still draw from numpy's global RNG (TPA's ``check_consistency``
  calls ``np.random.randint`` in every ``tell``), so every call into pycma runs inside
  ``_numpy_rng_preserved``, which puts the global state back afterwards.
- Silence: ``verbose=-9``, ``verb_disp=0``, ``verb_log=0`` (no output files).
- ``CMA_mirrors=0``: pycma mirrors samples by default when popsize < 6, with a selection that
  depends on the previous generation; turning it off keeps the checkpointed state small.
- Checkpoints (``diagonal=True`` only): ``state_dict`` stores pycma's numeric state as float64
  tensors (mean, previous mean, step size, diagonal scaling, evolution paths, the step-size
  adaptation's state, counters); ``load_state_dict`` builds a fresh pycma object with the same
  options and writes that state into it. Continuation is bit-identical (tested with pycma 4.5
  under both step-size adaptations pycma picks by default: CSA below dimension 300, TPA from
  300 on). The full-covariance mode has no checkpoint support.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator

import cma
import numpy as np
import torch
from cma.utilities.utils import ElapsedWCTime
from torch import Tensor

from agents.evolution.es.base import EvolutionStrategy, require_popsize, require_positive


@contextlib.contextmanager
def _numpy_rng_preserved() -> Iterator[None]:
    """Restore numpy's global RNG state on exit, whatever the body drew from it."""
    state = np.random.get_state()
    try:
        yield
    finally:
        np.random.set_state(state)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CMAESConfig:
    """CMA-ES hyperparameters; everything else is pycma's default."""

    popsize: int | None = None  # None: pycma's default 4 + floor(3 ln dim)
    sigma_init: float = 0.03  # pycma's sigma0, the initial overall step size
    diagonal: bool = True  # sep-CMA-ES: diagonal covariance, time and memory linear in dim

    def __post_init__(self) -> None:
        if self.popsize is not None:
            require_popsize(self.popsize, minimum=3)  # pycma's own lower bound
        require_positive(sigma_init=self.sigma_init)


@dataclasses.dataclass
class CMAESState:
    """pycma's numeric state in the diagonal mode, as checkpointed (float64 tensors)."""

    mean: Tensor  # (dim,) the current mean
    mean_old: Tensor  # (dim,) the mean before the last update (TPA samples along the shift)
    sigma: float  # overall step size
    scaling: Tensor  # (dim,) diagonal decoding: sqrt of the diagonal of C
    scaling_is_identity: bool  # pycma's flag: scaling not yet adapted
    pc: Tensor  # (dim,) evolution path of the covariance
    ps: Tensor  # (dim,) the isotropic evolution path (zeros until pycma creates it)
    tpa_s: float  # TPA's smoothed success statistic (0 under CSA)
    sigma_delta: float  # the step-size adaptation's accumulated change sigma / sigma0
    countiter: int
    countevals: int


class CMAES(EvolutionStrategy):
    """CMA-ES (separable by default) with this package's ask/tell, seeding and checkpoints.

    Example:
        >>> es = CMAES(torch.zeros(3), CMAESConfig(popsize=6, sigma_init=0.5), seed=0)
        >>> x = es.ask()
        >>> es.tell(-(x - 1).square().sum(dim=1))
    """

    config: CMAESConfig

    def __init__(self, x0: Tensor, config: CMAESConfig | None = None, *, seed: int) -> None:
        """Start pycma at ``x0`` with step size ``config.sigma_init``.

        Args:
            x0: The initial mean (dim,).
            config: Hyperparameters; ``CMAESConfig()`` if None.
            seed: Seed of the private ``torch.Generator`` that feeds pycma's ``randn``.
        """
        config = CMAESConfig() if config is None else config
        n = max(torch.as_tensor(x0).numel(), 1)
        popsize = config.popsize if config.popsize is not None else 4 + int(3 * math.log(n))
        super().__init__(x0, popsize, seed)
        self.config = config
        self._es = self._new_cma(self.x0.double().numpy())
        self._asked: list[np.ndarray] | None = None

    def _randn_numpy(self, *shape: int) -> np.ndarray:
        """Standard normals from our generator as float64: pycma's ``randn`` option."""
        return self._randn(*shape, dtype=torch.float64).numpy()

    def _new_cma(self, x0: np.ndarray) -> cma.CMAEvolutionStrategy:
        options = {
            "popsize": self.popsize,
            "CMA_diagonal": self.config.diagonal,
            "CMA_mirrors": 0,
            "seed": np.nan,  # NaN: pycma leaves numpy's global RNG alone
            "randn": self._randn_numpy,
            "verbose": -9,
            "verb_disp": 0,
            "verb_log": 0,
        }
        with _numpy_rng_preserved():
            return cma.CMAEvolutionStrategy(x0, self.config.sigma_init, options)

    @property
    def center(self) -> Tensor:
        """The mean of pycma's search distribution (dim,) as float32 (a copy)."""
        return torch.from_numpy(self._es.mean).to(torch.float32)

    @property
    def sigma(self) -> Tensor:
        """Per-coordinate standard deviation, pycma's ``stds`` (dim,) as float32."""
        return torch.from_numpy(np.asarray(self._es.stds)).to(torch.float32)

    def _ask(self) -> Tensor:
        with _numpy_rng_preserved():
            self._asked = self._es.ask()
        return torch.from_numpy(np.array(self._asked, dtype=np.float32))  # (popsize, dim)

    def _tell(self, candidates: Tensor, fitness: Tensor) -> None:
        asked, self._asked = self._asked, None
        with _numpy_rng_preserved():
            self._es.tell(asked, (-fitness).tolist())  # pycma minimizes

    def _export_state(self) -> CMAESState:
        if not self.config.diagonal:
            raise NotImplementedError("CMAES checkpoints need CMAESConfig(diagonal=True)")
        es, adapt = self._es, self._es.adapt_sigma

        def vector(a: np.ndarray | float) -> Tensor:
            return torch.tensor(np.broadcast_to(a, (self.dim,)), dtype=torch.float64)

        return CMAESState(
            mean=vector(es.mean),
            mean_old=vector(getattr(es, "mean_old", es.mean)),  # set by pycma's first tell
            sigma=float(es.sigma),
            scaling=vector(es.sigma_vec.scaling),
            scaling_is_identity=bool(es.sigma_vec.is_identity),
            pc=vector(es.pc),
            ps=vector(getattr(adapt, "ps", 0.0)),
            tpa_s=float(getattr(adapt, "s", 0.0)),
            sigma_delta=float(adapt.delta),
            countiter=es.countiter,
            countevals=es.countevals,
        )

    def _import_state(self, state: CMAESState) -> None:
        es = self._new_cma(state.mean.numpy())
        adapt = es.adapt_sigma
        es.mean = state.mean.numpy().copy()
        es.mean_old = state.mean_old.numpy().copy()
        es.mean_after_tell = es.mean.copy()
        es.sigma = state.sigma
        if not state.scaling_is_identity:
            es.sigma_vec.scaling = state.scaling.numpy().copy()
            es.sigma_vec.is_identity = False
        es.pc = state.pc.numpy().copy()
        adapt.ps = state.ps.numpy().copy()  # TPA creates its path (for hsig) lazily
        if hasattr(adapt, "s"):
            adapt.s = state.tpa_s
        adapt.delta = state.sigma_delta
        es.countiter, es.countevals = state.countiter, state.countevals
        if state.countiter > 0:
            es.timer = ElapsedWCTime()  # pycma creates it in its first ask
            if es.mean_shift_samples:  # TPA: the next ask samples along mean - mean_old
                es._prepare_injection_directions()
        self._es, self._asked = es, None
