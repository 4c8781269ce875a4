"""Training a seeded transformer on any env with an evolution strategy.

A generation: the ES asks for P candidates; every candidate plays the same I instances under
the same M policy seeds (common random numbers); its fitness is minus the q-norm over
instances of its seed-averaged loss `max_return - return` (for the grid world, the number of
steps), reported in return units; the ES is told. With q = inf over every instance this is
the exact oblivious adversary (`q_R`), q = 1 is ERM (`E_R`); a fixed policy seed drawn once
gives the `r0` variants. Small instance spaces (the grid world's treasure cells) are played
whole every generation; larger ones are sampled afresh each generation from the run's own RNG.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from agents.baselines.game_value import best_mixture
from agents.evolution.engine import Player, RolloutEngine
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
from agents.models.memory import build_model
from agents.models.population import flatten_parameters
from agents.runs.checkpoint import check_env_id, check_field, load_checkpoint, save_checkpoint
from agents.supervised.qnorm import q_norm
from agents.tasks import Task, task_for_env
from randgym.envs.batching import batch_stack

ALGORITHMS: dict[str, tuple[type[EvolutionStrategy], type]] = {
    "pepg": (PEPG, PEPGConfig),
    "cma": (CMAES, CMAESConfig),
    "openes": (OpenES, OpenESConfig),
}
MAX_ENUMERATED = 4096  # most instances played whole every generation (instances=None)
EVAL_SEED = 12345  # seeds the policy seeds (and sampled instances) of evaluations


@dataclass(frozen=True)
class EvolveConfig:
    """Everything that defines an ES run (saved with its checkpoints)."""

    env_id: str = "RandAlg/GridExplore-v0"
    env_kwargs: dict[str, Any] = field(default_factory=dict)  # e.g. {"size": 5}
    model_preset: str = "paper"  # one of the task's model presets
    model: dict[str, Any] = field(default_factory=dict)  # overrides of the model preset
    player: dict[str, Any] = field(default_factory=dict)  # e.g. {"visited_map": False} (grid)
    instances: int | None = None  # per generation: None = all of them, K = K fresh samples
    algorithm: str = "pepg"  # "pepg" | "cma" | "openes"
    es: dict[str, Any] = field(default_factory=dict)  # the algorithm's config fields
    q: float = math.inf  # norm over instances: 1 = ERM (E_R), inf = worst case (q_R)
    # norms before q, as (until, norm) stages: generations before `until` use `norm`; e.g.
    # ((40, 1.0), (600, 8.0)): ERM first (to learn to cover every instance), then q = 8 (a
    # gradient even where no candidate finds some instance), then q
    q_schedule: tuple[tuple[int, float], ...] = ()
    m: int = 10  # policy seeds per generation, shared by all candidates and instances
    fixed_seed: bool = False  # one policy seed drawn once (the r0 variants) instead of m fresh
    # rank candidates by the worst case of the best mixture of their seed pool's seeds (the
    # matrix game's LP) instead of their uniform draw, in the generations where q = inf
    mix_seeds: bool = False
    seed: int = 0  # seeds the initial weights, the ES, the policy seeds and the instances
    generations: int = 200  # ES generations of the run
    chunk_size: int | None = None  # most candidates evaluated at once (memory bound)

    def __post_init__(self) -> None:
        for name in ("env_kwargs", "model", "player", "es"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(f"{name}={getattr(self, name)!r} is invalid; expected a dict")
        for name in ("fixed_seed", "mix_seeds"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}={getattr(self, name)!r} is invalid; expected a bool")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed={self.seed!r} is invalid; expected an int >= 0")
        if not isinstance(self.q, int | float) or not self.q >= 1:
            raise ValueError(f"q={self.q!r} is invalid; expected 1 <= q <= inf")
        object.__setattr__(self, "q_schedule", _checked_schedule(self.q_schedule))
        if self.mix_seeds and self.q != math.inf:
            raise ValueError(
                f"mix_seeds=True with q={self.q}: the mixture is ranked by its worst case, so "
                "set q=inf (the q_schedule stages before it keep their norms)"
            )
        if not isinstance(self.m, int) or self.m < 1:
            raise ValueError(f"m={self.m!r} is invalid; expected a positive integer")
        if self.instances is not None and (
            isinstance(self.instances, bool) or not isinstance(self.instances, int)
            or self.instances < 1
        ):  # fmt: skip
            raise ValueError(
                f"instances={self.instances!r} is invalid; expected a positive integer or None"
            )
        if not isinstance(self.generations, int) or self.generations < 1:
            raise ValueError(f"generations={self.generations!r} must be a positive integer")
        if self.algorithm not in ALGORITHMS:
            raise ValueError(
                f"algorithm={self.algorithm!r} is unknown; expected {list(ALGORITHMS)}"
            )

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (an infinite norm as the string "inf")."""
        data = dataclasses.asdict(self)
        data["q"] = _json_norm(self.q)
        data["q_schedule"] = [[until, _json_norm(norm)] for until, norm in self.q_schedule]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvolveConfig:
        """Inverse of `to_json`."""
        try:
            q = float(data["q"])
        except (KeyError, TypeError, ValueError):
            message = f"q={data.get('q')!r} is invalid; expected a number or 'inf'"
            raise ValueError(message) from None
        data = with_q_schedule(data)
        schedule = data["q_schedule"]
        try:
            stages = tuple((until, float(norm)) for until, norm in schedule)
        except (TypeError, ValueError):
            message = f"q_schedule={schedule!r} is invalid; expected [until, q] pairs"
            raise ValueError(message) from None
        return cls(**{**data, "q": q, "q_schedule": stages})

    def q_at(self, generation: int) -> float:
        """The norm of `generation`: its stage's in `q_schedule`, else q."""
        for until, norm in self.q_schedule:
            if generation < until:
                return norm
        return self.q


def with_q_schedule(data: dict[str, Any]) -> dict[str, Any]:
    """A saved config's dict with `q_schedule`; runs saved before it had one warm-up stage."""
    data = dict(data)
    warmup = [data.pop("warmup_generations", 0), data.pop("warmup_q", 1.0)]
    data.setdefault("q_schedule", [warmup] if warmup[0] else [])
    return data


def _json_norm(q: float) -> float | str:
    return "inf" if math.isinf(q) else q


def _checked_schedule(schedule: Any) -> tuple[tuple[int, float], ...]:
    """`schedule` as a tuple of (until, q) pairs; refuses bad stages with a clear error."""
    message = (
        f"q_schedule={schedule!r} is invalid; expected (until, q) pairs with generations "
        "until >= 1 increasing and 1 <= q <= inf"
    )
    try:
        stages = tuple((until, norm) for until, norm in schedule)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    previous = 0
    for until, norm in stages:
        if isinstance(until, bool) or not isinstance(until, int) or until <= previous:
            raise ValueError(message)
        if isinstance(norm, bool) or not isinstance(norm, int | float) or not norm >= 1:
            raise ValueError(message)
        previous = until
    return tuple((until, float(norm)) for until, norm in stages)


def make_task(config: EvolveConfig) -> Task:
    """The task of the run's env (only registered ``RandAlg/`` envs), made with its kwargs."""
    return task_for_env(check_env_id(config.env_id))(**config.env_kwargs)


def make_player(task: Task, options: dict[str, Any]) -> Player:
    """How a model plays the task's env, with the player's ``options``."""
    try:
        return task.make_player(**options)
    except TypeError as error:
        message = f"player options {options!r} are invalid for {task.name}: {error}"
        raise ValueError(message) from None


def make_engine(config: EvolveConfig, task: Task) -> RolloutEngine:
    """The run's model (initial weights from ``config.seed``) playing the task's env.

    Evaluators build it once per process (the driver, every remote worker) from the config.
    """
    player = make_player(task, config.player)
    model_config = task.model_config(config.model_preset, config.player, **config.model)
    model = build_model(model_config, torch.Generator().manual_seed(config.seed))
    return RolloutEngine(model, task.env.dynamics, player)


def every_instance(task: Task) -> Any:
    """The task's whole instance space as one batch, if it is small enough to play it all."""
    count = task.num_instances
    if count is None or count > MAX_ENUMERATED:
        raise ValueError(
            f"env {task.env_id!r} has {'infinitely many' if count is None else f'{count:,}'} "
            f"instances, more than the {MAX_ENUMERATED} played whole every generation: set "
            "instances=K to play K fresh samples per generation"
        )
    return batch_stack(list(task.generator.instances()))


def mixed_fitness(returns: Tensor) -> Tensor:
    """Fitness (P,) of returns (P, I, M): the worst case of the best mixture of the M seeds.

    Each candidate's seeds are weighted by the LP of its own matrix game, seeds against
    instances (`agents.baselines.game_value.best_mixture`); the fitness is the worst instance's
    expected return under those weights.
    """
    per_candidate = returns.double().numpy()  # (P, I, M)
    return returns.new_tensor([(r @ best_mixture(r.T)).min() for r in per_candidate])


def fitness_from_returns(returns: Tensor, q: float, max_return: float = 0.0) -> Tensor:
    """Fitness (P,) of returns (P, I, M), in return units.

    It is `max_return` minus the q-norm over instances of the seed-averaged loss
    `max_return - return` (q = inf: the worst instance's mean return; q = 1: the mean return).
    """
    if not len(returns):  # no candidates (vmap cannot map over none)
        return returns.new_empty(0)
    losses = max_return - returns
    return max_return - torch.vmap(q_norm, in_dims=(0, None))(losses, q)


class Evolution:
    """One ES run: the model, the rollout engine, the ES, the policy-seed and instance streams.

    Args:
        config: The run's configuration.
        evaluator: Where generations are evaluated; a `LocalEvaluator` when None.
    """

    def __init__(self, config: EvolveConfig, evaluator: Evaluator | None = None) -> None:
        self.config = config
        self.task = task = make_task(config)
        self.engine = make_engine(config, task)
        self.model, self.dynamics, self.player = (
            self.engine.model, self.engine.dynamics, self.engine.player
        )  # fmt: skip
        self.generator = task.generator
        pool = self.model.config.seed_pool
        if self.plays_whole_pool and config.m != pool:
            raise ValueError(
                f"m={config.m} with seed_pool={pool}: every generation plays the whole pool; "
                f"set m={pool}, or the model's seed_pool={config.m}"
            )
        if config.mix_seeds and not self.plays_whole_pool:
            raise ValueError(
                "mix_seeds=True mixes the seeds of a seed pool played whole: give the model a "
                "seed_pool (e.g. --model '{\"seed_pool\": 16}' --m 16) and fixed_seed=False"
            )
        self.evaluator = evaluator or LocalEvaluator(self.engine, config.chunk_size)
        es_class, es_config_class = ALGORITHMS[config.algorithm]
        x0 = flatten_parameters(self.model)
        self.es = es_class(x0, es_config_class(**config.es), seed=config.seed)
        self.seed_generator = torch.Generator().manual_seed(config.seed + 1)
        self.fixed_policy_seed = self._policy_seeds(1, self.seed_generator)
        self.instance_rng = np.random.default_rng(config.seed + 2)
        if config.instances is None:
            self.evaluation_instances = every_instance(task)
        else:
            eval_rng = np.random.default_rng(EVAL_SEED)
            self.evaluation_instances = self.generator.sample_batch(eval_rng, config.instances)

    @property
    def plays_whole_pool(self) -> bool:
        """Whether generations and evaluations play the model's whole seed pool (not r0 runs)."""
        return self.model.policy_seed_pool is not None and not self.config.fixed_seed

    def _policy_seeds(self, n: int, generator: torch.Generator) -> Tensor:
        return self.model.sample_policy_seed(n, generator, length=self.player.length)

    def _played_seeds(self, n: int, generator: torch.Generator) -> Tensor:
        """The fixed seed (r0 runs), the model's whole seed pool, or n fresh seeds.

        Playing the whole seed pool gives the exact expectation over the model's seeds.
        """
        if self.plays_whole_pool:
            return self.model.policy_seed_pool
        if self.config.fixed_seed:
            return self.fixed_policy_seed
        return self._policy_seeds(n, generator)

    def policy_seeds(self) -> Tensor:
        """This generation's policy seeds (M fresh ones unless fixed or pooled)."""
        return self._played_seeds(self.config.m, self.seed_generator)

    def generation_instances(self) -> Any:
        """This generation's instances: all of them, or `config.instances` fresh samples."""
        if self.config.instances is None:
            return self.evaluation_instances
        return self.generator.sample_batch(self.instance_rng, self.config.instances)

    def current_q(self) -> float:
        """The norm of this generation (`EvolveConfig.q_at`)."""
        return self.config.q_at(self.es.generation)

    def step(self) -> dict[str, float]:
        """Runs one generation; returns its metrics."""
        candidates = self.es.ask()
        instances = self.generation_instances()
        returns = self.evaluator.returns(candidates, instances, self.policy_seeds())
        q = self.current_q()
        mixed = self.config.mix_seeds and q == math.inf
        if mixed:
            fitness = mixed_fitness(returns)
        else:
            fitness = fitness_from_returns(returns, q, self.player.max_return)
        self.es.tell(fitness)
        # each candidate's worst instance, for the agent trained: the mixture, or the uniform draw
        worst_cases = fitness if mixed else returns.mean(dim=2).min(dim=1).values
        return {
            **self.es.metrics,
            "return_mean": returns.mean().item(),
            "worst_case_best": worst_cases.max().item(),
        }

    def evaluation_seeds(self, n_seeds: int) -> Tensor:
        """Policy seeds to evaluate the center with: the fixed one, the whole pool, or n fresh."""
        return self._played_seeds(n_seeds, torch.Generator().manual_seed(EVAL_SEED))

    def center_returns(self, n_seeds: int) -> Tensor:
        """Returns (I, n_seeds) of the ES center on `evaluation_instances`."""
        seeds = self.evaluation_seeds(n_seeds)
        return self.evaluator.returns(self.es.center[None], self.evaluation_instances, seeds)[0]

    def state_dict(self) -> dict[str, Any]:
        """The run's state: tensors and JSON-able values only."""
        es_state = {f"es.{key}": value for key, value in self.es.state_dict().items()}
        return {
            **es_state,
            "seed_generator": self.seed_generator.get_state(),
            "instance_rng": self.instance_rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores `state_dict()` (validated by the ES and the RNGs)."""
        prefix = "es."
        self.es.load_state_dict(
            {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
        )
        self.seed_generator.set_state(state["seed_generator"])
        self.instance_rng.bit_generator.state = state["instance_rng"]

    def save(self, path: str | Path, generation: int) -> None:
        """Writes the run's config and state after `generation` generations, atomically."""
        state = self.state_dict()
        tensors = {k: v for k, v in state.items() if isinstance(v, Tensor)}
        scalars = {k: v for k, v in state.items() if not isinstance(v, Tensor)}
        metadata = {"config": self.config.to_json(), "generation": generation, "scalars": scalars}
        save_checkpoint(path, tensors, metadata)

    @classmethod
    def load(cls, path: str | Path) -> tuple[Evolution, int]:
        """The run saved at `path` and its generation; refuses corrupt or foreign files.

        Every field is checked before the run is built, and an error names it.
        """
        tensors, metadata = load_checkpoint(path)
        config = check_field(metadata, "config", dict, path=path)
        generation = check_field(metadata, "generation", int, minimum=0, path=path)
        scalars = check_field(metadata, "scalars", dict, path=path)
        try:
            run = cls(EvolveConfig.from_json(config))
            run.load_state_dict({**tensors, **scalars})
        except (KeyError, TypeError) as error:
            raise ValueError(f"checkpoint {str(path)!r} is not an ES run: {error!r}") from error
        return run, generation
