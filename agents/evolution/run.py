"""Training a seeded transformer on the grid world with an evolution strategy.

A generation: the ES asks for P candidates; every candidate plays every treasure cell under
the same M policy seeds (common random numbers); its fitness is minus the q-norm over cells
of its seed-averaged loss (the number of steps, i.e. minus the return); the ES is told.
q = inf over all cells is the paper's exact oblivious adversary (`q_R`), q = 1 is ERM
(`E_R`); a fixed policy seed drawn once gives the `r0` variants.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

import randgym  # noqa: F401  (registers the envs)
from agents.evolution.engine import RolloutEngine
from agents.evolution.es import (
    CMAES,
    PEPG,
    CMAESConfig,
    EvolutionStrategy,
    OpenES,
    OpenESConfig,
    PEPGConfig,
)
from agents.evolution.evaluators import Evaluator, LocalEvaluator
from agents.models.population import flatten_parameters
from agents.models.presets import preset
from agents.models.transformer import SeededTransformer
from agents.runs.checkpoint import load_checkpoint, save_checkpoint
from agents.supervised.qnorm import q_norm
from agents.tasks.grid.tokenizer import GridTokenizer
from randgym.envs.grid_explore.env import GridExploreEnv

ALGORITHMS: dict[str, tuple[type[EvolutionStrategy], type]] = {
    "pepg": (PEPG, PEPGConfig),
    "cma": (CMAES, CMAESConfig),
    "openes": (OpenES, OpenESConfig),
}


@dataclass(frozen=True)
class EvolveConfig:
    """Everything that defines an ES run on the grid world (saved with its checkpoints)."""

    env_id: str = "RandAlg/GridExplore-v0"
    env_kwargs: dict[str, Any] = field(default_factory=dict)  # e.g. {"size": 5}
    model: dict[str, Any] = field(default_factory=dict)  # overrides of the "grid" preset
    visited_map: bool = True  # tokens carry the phase's visited map (see GridTokenizer)
    algorithm: str = "pepg"  # "pepg" | "cma" | "openes"
    es: dict[str, Any] = field(default_factory=dict)  # the algorithm's config fields
    q: float = math.inf  # norm over treasure cells: 1 = ERM (E_R), inf = worst case (q_R)
    m: int = 10  # policy seeds per generation, shared by all candidates and cells
    fixed_seed: bool = False  # one policy seed drawn once (the r0 variants) instead of m fresh
    seed: int = 0  # seeds the initial weights, the ES and the policy seeds
    generations: int = 200  # ES generations of the run
    chunk_size: int | None = None  # most candidates evaluated at once (memory bound)

    def __post_init__(self) -> None:
        if not self.q >= 1:
            raise ValueError(f"q={self.q!r} is invalid; expected 1 <= q <= inf")
        if not isinstance(self.m, int) or self.m < 1:
            raise ValueError(f"m={self.m!r} is invalid; expected a positive integer")
        if not isinstance(self.generations, int) or self.generations < 1:
            raise ValueError(f"generations={self.generations!r} must be a positive integer")
        if self.algorithm not in ALGORITHMS:
            raise ValueError(
                f"algorithm={self.algorithm!r} is unknown; expected {list(ALGORITHMS)}"
            )

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (infinite q as the string "inf")."""
        data = dataclasses.asdict(self)
        data["q"] = "inf" if math.isinf(self.q) else self.q
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvolveConfig:
        """Inverse of `to_json`."""
        return cls(**{**data, "q": float(data["q"])})


# A small transformer that ES trains in minutes on a CPU (the paper's is `model={}`).
SMALL_MODEL = {
    "width": 32, "n_heads": 2, "key_size": 8, "seed_dim": 8, "attention": "linear",
}  # fmt: skip

PRESETS: dict[str, EvolveConfig] = {
    # a few minutes on 2 cores: shows the pipeline end to end, far from converged
    "default": EvolveConfig(model=SMALL_MODEL, es={"popsize": 64}, generations=100),
    # the paper's PEPG and model (Table 3); 25k generations take days on a CPU
    "paper": EvolveConfig(
        es={"popsize": 300, "center_lr": 0.01, "std_lr": 0.01, "sigma_init": 0.03},
        visited_map=False,
        generations=25_000,
    ),
}


def make_env(config: EvolveConfig) -> GridExploreEnv:
    """The single env of the run, refusing envs the grid policy cannot play."""
    try:
        env = gym.make(config.env_id, **config.env_kwargs).unwrapped
    except gym.error.Error as error:
        raise ValueError(f"env {config.env_id!r} cannot be made: {error}") from error
    if not isinstance(env, GridExploreEnv):
        raise ValueError(
            f"env {config.env_id!r} is a {type(env).__name__}; the ES trainer plays "
            "GridExploreEnv-like envs (RandAlg/GridExplore-v0)"
        )
    return env


def fitness_from_returns(returns: Tensor, q: float) -> Tensor:
    """Fitness (P,) of returns (P, I, M): minus the q-norm over cells of the mean steps."""
    return -torch.vmap(q_norm, in_dims=(0, None))(-returns, q)


class GridEvolution:
    """One ES run: the model, the rollout engine, the ES and the policy-seed stream.

    Args:
        config: The run's configuration.
        evaluator: Where generations are evaluated; a `LocalEvaluator` when None.
    """

    def __init__(self, config: EvolveConfig, evaluator: Evaluator | None = None) -> None:
        self.config = config
        env = make_env(config)
        if config.q > 1 and max(env.dynamics.step_reward, env.dynamics.find_reward) > 0:
            raise ValueError("q > 1 needs non-negative losses: use step and find rewards <= 0")
        self.dynamics = env.dynamics
        self.cells = np.stack(list(env.generator.instances()))  # (I, 2): every treasure cell
        self.tokenizer = GridTokenizer(env.dynamics.size, env.dynamics.n_phases, config.visited_map)
        max_len = env.dynamics.horizon * env.dynamics.n_phases
        model_config = preset(
            "grid", **{"max_len": max_len, **config.model, "input_dim": self.tokenizer.dim}
        )
        self.model = SeededTransformer(model_config, torch.Generator().manual_seed(config.seed))
        engine = RolloutEngine(self.model, self.dynamics, self.tokenizer)
        self.evaluator = evaluator or LocalEvaluator(engine, config.chunk_size)
        self.engine = engine
        es_class, es_config_class = ALGORITHMS[config.algorithm]
        x0 = flatten_parameters(self.model)
        self.es = es_class(x0, es_config_class(**config.es), seed=config.seed)
        self.seed_generator = torch.Generator().manual_seed(config.seed + 1)
        self.fixed_policy_seed = self.model.sample_policy_seed(1, self.seed_generator)

    def policy_seeds(self) -> Tensor:
        """This generation's M policy seeds (the fixed one, repeated, for r0 runs)."""
        if self.config.fixed_seed:
            return self.fixed_policy_seed
        return self.model.sample_policy_seed(self.config.m, self.seed_generator)

    def step(self) -> dict[str, float]:
        """Runs one generation; returns its metrics."""
        candidates = self.es.ask()
        returns = self.evaluator.returns(candidates, self.cells, self.policy_seeds())
        fitness = fitness_from_returns(returns, self.config.q)
        self.es.tell(fitness)
        per_cell = returns.mean(dim=2)  # (P, I): seed-averaged return
        return {
            **self.es.metrics,
            "return_mean": returns.mean().item(),
            "worst_case_best": per_cell.min(dim=1).values.max().item(),
        }

    def evaluation_seeds(self, n_seeds: int, eval_seed: int = 12345) -> Tensor:
        """Policy seeds to evaluate the center with: n fresh ones, the fixed one for r0 runs."""
        if self.config.fixed_seed:
            return self.fixed_policy_seed
        return self.model.sample_policy_seed(n_seeds, torch.Generator().manual_seed(eval_seed))

    def center_returns(self, n_seeds: int) -> Tensor:
        """Returns (I, n_seeds) of the ES center on every cell under `evaluation_seeds`."""
        seeds = self.evaluation_seeds(n_seeds)
        return self.evaluator.returns(self.es.center[None], self.cells, seeds)[0]

    def state_dict(self) -> dict[str, Any]:
        """The run's state: tensors and numbers only."""
        es_state = {f"es.{key}": value for key, value in self.es.state_dict().items()}
        return {**es_state, "seed_generator": self.seed_generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores `state_dict()` (validated by the ES)."""
        prefix = "es."
        self.es.load_state_dict(
            {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
        )
        self.seed_generator.set_state(state["seed_generator"])

    def save(self, path: str | Path, generation: int) -> None:
        """Writes the run's config and state after `generation` generations, atomically."""
        state = self.state_dict()
        tensors = {k: v for k, v in state.items() if isinstance(v, Tensor)}
        scalars = {k: v for k, v in state.items() if not isinstance(v, Tensor)}
        metadata = {"config": self.config.to_json(), "generation": generation, "scalars": scalars}
        save_checkpoint(path, tensors, metadata)

    @classmethod
    def load(cls, path: str | Path) -> tuple[GridEvolution, int]:
        """The run saved at `path` and its generation; refuses corrupt or foreign files."""
        tensors, metadata = load_checkpoint(path)
        try:
            config = EvolveConfig.from_json(metadata["config"])
            run = cls(config)
            run.load_state_dict({**tensors, **metadata["scalars"]})
            return run, int(metadata["generation"])
        except (KeyError, TypeError) as error:
            raise ValueError(f"checkpoint {str(path)!r} is not an ES run: {error}") from error
