"""An oblivious adversary that picks each episode's instance, and the wrapper that asks it.

The adversary knows the instance space (through the env's generator) and, if it likes, the
agent's past returns, but never the agent's random seed: it is the *oblivious adversary* of
the paper. Each adversary owns its own `np.random.Generator`, never the env's.

    >>> env = AdversarialInstances(gym.make("RandAlg/GridExplore-v0"), TrackingAdversary(q=8))
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from randgym.envs.batching import batch_index
from randgym.envs.generator import InstanceGenerator
from randgym.envs.validation import check_float, check_int

ENUMERATION_LIMIT = 10**7  # the largest instance space an adversary lists as candidates
TRACKING_LIMIT = 10**6  # the largest space TrackingAdversary estimates instance by instance
# TrackingAdversary draws its proposals in blocks of ceil(candidates / this)
BLOCK_CANDIDATES = 1024


class Adversary(ABC):
    """Chooses instances. The wrapper calls `bind` once, then `propose` / `observe` per episode.

    Args:
        seed: Seed (an integer >= 0, or None for fresh entropy) of the adversary's own random
            generator.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(None if seed is None else check_int("seed", seed, 0))
        self.generator: InstanceGenerator | None = None

    def bind(self, generator: InstanceGenerator) -> None:
        """Attaches the instance space; an adversary shared by several envs is bound once."""
        if self.generator is None:
            self.generator = generator
            try:
                self._on_bind()
            except Exception:
                self.generator = None  # unbound again, so a failed bind leaves no half state
                raise
        elif self.generator.num_instances != generator.num_instances:
            raise ValueError(
                f"{type(self).__name__} is already bound to an instance space of "
                f"{self.generator.num_instances} instances, not {generator.num_instances}"
            )

    def _on_bind(self) -> None:
        """Prepares the adversary once its instance space is known."""
        return None

    @abstractmethod
    def propose(self) -> Any:
        """The instance of the next episode."""

    def observe(self, instance: Any, episode_return: float) -> None:
        """Learns the return the agent got on `instance`; a NaN or infinite one is refused."""
        try:
            episode_return = check_float("episode_return", episode_return)
        except ValueError as error:
            raise ValueError(f"{error} (the return on instance {instance!r})") from None
        self._record(instance, episode_return)

    def _record(self, instance: Any, episode_return: float) -> None:
        """Learns from a checked, finite return (default: ignored)."""
        return None

    def _bound_generator(self) -> InstanceGenerator:
        if self.generator is None:
            raise RuntimeError(f"{type(self).__name__} is not bound; wrap an env with it first")
        return self.generator

    def _candidates(self, instances: Sequence[Any] | None) -> list[Any]:
        generator = self._bound_generator()
        count = generator.num_instances
        if instances is not None:
            candidates = [generator.validate(instance) for instance in instances]
        elif count is None or count > ENUMERATION_LIMIT:
            raise ValueError(
                f"{type(self).__name__} cannot enumerate {count} instances; "
                "pass a candidate list with instances=..."
            )
        else:
            batch = generator.instances_from_indices(np.arange(count))
            candidates = [batch_index(batch, i) for i in range(count)]
        if not candidates:
            raise ValueError(f"{type(self).__name__} needs at least one candidate instance")
        return candidates


class UniformAdversary(Adversary):
    """The plain instance distribution of the env (the control)."""

    def propose(self) -> Any:
        """An instance drawn from the generator with the adversary's own RNG."""
        return self._bound_generator().sample(self.rng)


class FixedAdversary(Adversary):
    """Cycles through a given list of instances, in order (for exact evaluations).

    Args:
        instances: The instances to serve, in order, over and over.
    """

    def __init__(self, instances: Iterable[Any]) -> None:
        super().__init__()
        self._given = list(instances)
        self._next = 0

    def _on_bind(self) -> None:
        self.instances = self._candidates(self._given)

    def propose(self) -> Any:
        """The next instance of the list."""
        self._bound_generator()
        instance = self.instances[self._next % len(self.instances)]
        self._next += 1
        return instance


class WorstCaseAdversary(Adversary):
    """Scores every candidate instance and serves the worst ones (the exact oblivious adversary).

    Args:
        score_fn: Maps an instance to the agent's score on it (higher is better for the agent),
            e.g. the mean return of the current policy over 10 policy seeds.
        instances: Candidate instances; default: the whole (finite) instance space.
        num_worst: How many of the lowest-scoring instances to serve, uniformly at random.
        seed: Seed of the adversary's own random generator.
    """

    def __init__(
        self,
        score_fn: Callable[[Any], float],
        instances: Sequence[Any] | None = None,
        num_worst: int = 1,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        self.num_worst = check_int("num_worst", num_worst, 1)
        self.score_fn = score_fn
        self._given = instances

    def _on_bind(self) -> None:
        self.instances = self._candidates(self._given)
        self.rescore()

    def rescore(self) -> None:
        """Scores all candidates again (call it after the agent has changed).

        Raises:
            ValueError: `score_fn` gave a NaN or infinite score; the old scores are kept.
        """
        scores = np.array([float(self.score_fn(inst)) for inst in self.instances])
        bad = np.flatnonzero(~np.isfinite(scores))
        if bad.size:
            raise ValueError(
                f"score_fn returned the non-finite score {scores[bad[0]]} for instance "
                f"{self.instances[bad[0]]!r}; expected a finite number for every instance"
            )
        self.scores = scores
        self.worst = np.argsort(scores, kind="stable")[: self.num_worst]

    def propose(self) -> Any:
        """One of the `num_worst` lowest-scoring candidates."""
        self._bound_generator()
        return self.instances[self.rng.choice(self.worst)]


class TrackingAdversary(Adversary):
    """Learns from the episodes it sees which instances hurt, with no handle on the policy.

    It keeps an exponential moving average `R_i` of the return on each candidate and samples
    candidate i with probability proportional to `loss_i ** (q - 1)`, `loss_i = max_return -
    R_i`: the weight the gradient of the q-norm `(mean_i loss_i^q)^(1/q)` gives to instance i,
    so a learner trained on the served instances follows the q-norm objective. q=1 is uniform,
    q=inf always serves the current worst. A share `exploration` of episodes is uniform, and
    unseen candidates count as the worst seen, so no candidate is starved. `propose` draws
    with `probabilities()` in blocks of `ceil(len(instances) / 1024)` instances (one at a
    time up to 1,024 candidates; numbered candidates are made in one batched call), so a large
    candidate set costs little per episode, at the price of serving a block on the estimates
    of the time it was drawn.

    The candidates are, in this order of preference:
    - the `instances` given;
    - every instance of a space of at most 1,000,000 (`TRACKING_LIMIT`): candidate i is the
      instance numbered i, made when served and numbered by `generator.index_of` when
      observed, so nothing is enumerated up front (GraphColoring's 181,440 cycles cost one
      float each);
    - otherwise (recall's 15 * 2**75 instances, random graphs) a *pool* of `pool_size`
      instances sampled from the generator and refreshed: each time the adversary has observed
      `pool_size` episodes, the `pool_refresh` share of the pool with the highest estimated
      returns (the instances the agent has learnt; unseen ones are kept) is replaced by fresh
      samples. Per-feature estimates were the alternative; a pool needs no model of which
      features make an instance hard and tracks instances as the q-norm defines them.

    Args:
        q: The norm exponent, >= 1 (math.inf for the worst case; NaN is refused).
        exploration: Probability in [0, 1] of serving a uniformly drawn candidate instead.
        smoothing: Weight in (0, 1] of a new return in the moving average (1 = keep only the
            last).
        max_return: The best achievable return, finite (0 for the grid world's -1 per step,
            1 for the 0/1 tasks); default: the best return observed so far.
        instances: Candidate instances; default: see above.
        pool_size: The number of pooled candidates of a space too large to track, >= 1.
        pool_refresh: The share in (0, 1] of the pool replaced at each refresh.
        seed: Seed of the adversary's own random generator.
    """

    def __init__(
        self,
        q: float = 8.0,
        exploration: float = 0.1,
        smoothing: float = 0.2,
        max_return: float | None = None,
        instances: Sequence[Any] | None = None,
        pool_size: int = 4096,
        pool_refresh: float = 0.25,
        seed: int | None = None,
    ) -> None:
        super().__init__(seed)
        if isinstance(q, bool) or not isinstance(q, int | float | np.number) or not q >= 1:
            raise ValueError(f"q={q!r} must be a number >= 1 (math.inf for the worst case)")
        self.q = float(q)
        self.exploration = check_float("exploration", exploration, 0.0, 1.0)
        self.smoothing = check_float("smoothing", smoothing, 0.0, 1.0)
        if self.smoothing == 0:
            raise ValueError(f"smoothing={smoothing!r} must be in (0, 1]")
        self.max_return = None if max_return is None else check_float("max_return", max_return)
        self.pool_size = check_int("pool_size", pool_size, 1)
        self.pool_refresh = check_float("pool_refresh", pool_refresh, 0.0, 1.0)
        if self.pool_refresh == 0:
            raise ValueError(f"pool_refresh={pool_refresh!r} must be in (0, 1]")
        self._given = instances

    def _on_bind(self) -> None:
        count = self.generator.num_instances
        enumerated = self._given is None and count is not None and count <= TRACKING_LIMIT
        self.pooled = self._given is None and not enumerated
        self._keys: dict[Hashable, int] | None = None  # candidate positions, unless enumerated
        if enumerated:
            self.instances: Sequence[Any] = _Enumeration(self.generator)
        elif self.pooled:
            self.instances = self._sampled(self.pool_size)
        else:
            self.instances = self._candidates(self._given)
        if not enumerated:
            self._keys = {self.generator.key(inst): i for i, inst in enumerate(self.instances)}
        self.estimates = np.full(len(self.instances), np.nan)
        self._episodes_since_refresh = 0
        self._block = -(-len(self.instances) // BLOCK_CANDIDATES)
        self._drawn: list[Any] = []  # the rest of the block being served, last first

    def probabilities(self) -> np.ndarray:
        """The current probability of serving each candidate."""
        count = len(self.instances)
        seen = ~np.isnan(self.estimates)
        if not seen.any():
            return np.full(count, 1.0 / count)
        ceiling = np.nanmax(self.estimates) if self.max_return is None else self.max_return
        loss = np.maximum(ceiling - self.estimates, 0.0)
        loss[~seen] = loss[seen].max()
        if math.isinf(self.q):
            weights = (loss == loss.max()).astype(float)
        elif loss.max() > 0:
            weights = (loss / loss.max()) ** (self.q - 1)
        else:
            weights = np.ones(count)
        return (1 - self.exploration) * weights / weights.sum() + self.exploration / count

    def propose(self) -> Any:
        """An instance drawn with `probabilities()` (of the time its block was drawn)."""
        self._bound_generator()
        if not self._drawn:
            cumulative = np.cumsum(self.probabilities())
            draws = self.rng.random(self._block) * cumulative[-1]
            picks = np.searchsorted(cumulative, draws, side="right")
            picks = np.minimum(picks, len(self.instances) - 1)[::-1]
            if isinstance(self.instances, _Enumeration):
                self._drawn = self.instances.take(picks)
            else:
                self._drawn = [self.instances[i] for i in picks]
        return self._drawn.pop()

    def _record(self, instance: Any, episode_return: float) -> None:
        """Updates the moving average of the return on `instance` (non-candidates are ignored)."""
        i = self._position(instance)
        if i is not None:
            old = self.estimates[i]
            rate = 1.0 if np.isnan(old) else self.smoothing
            self.estimates[i] = (1 - rate) * (0.0 if np.isnan(old) else old) + rate * episode_return
        self._episodes_since_refresh += 1
        if self.pooled and self._episodes_since_refresh >= self.pool_size:
            self._refresh_pool()

    def _position(self, instance: Any) -> int | None:
        generator = self._bound_generator()
        if self._keys is None:
            return generator.index_of(instance)
        return self._keys.get(generator.key(instance))

    def _refresh_pool(self) -> None:
        """Replaces the easiest seen pool members by fresh samples."""
        self._episodes_since_refresh, self._drawn = 0, []
        seen = np.flatnonzero(~np.isnan(self.estimates))
        count = min(seen.size, max(1, round(self.pool_refresh * len(self.instances))))
        easiest = seen[np.argsort(-self.estimates[seen], kind="stable")[:count]]
        for i, fresh in zip(easiest, self._sampled(count), strict=True):
            self._keys.pop(self.generator.key(self.instances[i]), None)
            self._keys[self.generator.key(fresh)] = i
            self.instances[i] = fresh
            self.estimates[i] = np.nan

    def _sampled(self, count: int) -> list[Any]:
        batch = self._bound_generator().sample_batch(self.rng, count)
        return [batch_index(batch, i) for i in range(count)]


class _Enumeration(Sequence):
    """The instances of a finite space as a lazy sequence: item i is the instance numbered i."""

    def __init__(self, generator: InstanceGenerator) -> None:
        self.generator = generator

    def __len__(self) -> int:
        return self.generator.num_instances

    def __getitem__(self, index: Any) -> Any:
        if not 0 <= index < len(self):
            raise IndexError(f"candidate {index} is out of range; expected 0 <= i < {len(self)}")
        return self.generator.instance_from_index(index)

    def take(self, indices: np.ndarray) -> list[Any]:
        """The instances numbered `indices`, made in one batched call."""
        batch = self.generator.instances_from_indices(indices)
        return [batch_index(batch, i) for i in range(len(indices))]


class AdversarialInstances(gym.Wrapper):
    """Lets an adversary choose the instance of every episode and tells it the returns.

    On each `reset` the adversary's instance goes to the env as `options["instance"]`
    (unless the caller passes one); at the end of each episode the adversary learns its return.
    Works for every randgym env, and under `gym.make_vec(..., wrappers=[...])` or SB3 VecEnvs
    (one adversary object may be shared by all sub-envs of a process; with worker processes,
    `AdversarialVectorInstances` (Gymnasium) or `agents.sb3.AdversarialVecEnv` (SB3) keeps one
    adversary in the main process instead).

    Args:
        env: A randgym env (its `unwrapped.generator` defines the instance space).
        adversary: The adversary.
    """

    def __init__(self, env: gym.Env, adversary: Adversary) -> None:
        super().__init__(env)
        generator = getattr(env.unwrapped, "generator", None)
        if not isinstance(generator, InstanceGenerator):
            raise ValueError(f"{env} has no instance generator; expected a randgym env")
        adversary.bind(generator)
        self.adversary = adversary
        self._instance: Any = None
        self._return = 0.0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Starts an episode on the adversary's instance."""
        options = dict(options or {})
        if options.get("instance") is None:
            options["instance"] = self.adversary.propose()
        obs, info = self.env.reset(seed=seed, options=options)
        self._instance, self._return = info["instance"], 0.0
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Steps the env; at the episode's end the adversary observes its return."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._return += float(reward)
        if terminated or truncated:
            self.adversary.observe(self._instance, self._return)
        return obs, reward, terminated, truncated, info
