"""Fitness on a Ray cluster: a generation's candidates spread over actors that hold the engine.

Each actor (one CPU) builds the run's rollout engine once from its `EvolveConfig` (task, player,
model) and then receives only candidate parameters: one chunk of the population per actor and
generation, beside the generation's instances and policy seeds, put once into the object store
and shared by every chunk. It sends back the chunk's returns. A chunk's returns do not depend on
where or with which other candidates it is played, so the generation equals the local
evaluator's bit for bit.

Faults: a chunk whose actor dies, or that runs past `chunk_timeout`, is played again by a fresh
actor (at most `retries` times); an error inside the engine is raised as is. No actor started
within `start_timeout` is a clear error. Ray is imported only here, when an evaluator is made:
runs on the local backend never import it.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import deque
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import Tensor

from agents.evolution.evaluators import LocalEvaluator
from agents.evolution.run import EvolveConfig, make_engine, make_task

INSTALL = 'pip install -e ".[ray]"'


def import_ray() -> ModuleType:
    """The ray module, or an ImportError that says how to install it."""
    try:
        import ray
    except ImportError as error:
        raise ImportError(f"the Ray backend needs Ray ({error}): {INSTALL}") from None
    return ray


def connect(address: str | None) -> tuple[ModuleType, bool]:
    """Ray, connected to the cluster at `address`, and whether this call opened the connection.

    A process already connected keeps its cluster; None starts a local one on this machine.
    """
    ray = import_ray()
    if ray.is_initialized():
        return ray, False
    ray.init(address=address, **({"include_dashboard": False} if address is None else {}))
    return ray, True


def _tensor(array: np.ndarray) -> Tensor:
    """A tensor of an array that may be a read-only view of Ray's object store (copied then)."""
    return torch.from_numpy(np.require(array, requirements="W"))


class EngineWorker:
    """The body of a Ray actor: the run's engine, built once, plays chunks of candidates.

    Args:
        config: The run's configuration (the engine is built from it as `Evolution` does).
    """

    def __init__(self, config: EvolveConfig) -> None:
        torch.set_num_threads(1)  # the one CPU the actor reserves
        engine = make_engine(config, make_task(config))
        self.evaluator = LocalEvaluator(engine, config.chunk_size)

    def ready(self) -> bool:
        """Answers once the engine is built."""
        return True

    def returns(self, candidates: np.ndarray, shared: tuple[Any, np.ndarray]) -> np.ndarray:
        """Returns (C, I, M) of candidates (C, D) on the generation's (instances, seeds)."""
        instances, policy_seeds = shared
        returns = self.evaluator.returns(_tensor(candidates), instances, _tensor(policy_seeds))
        return returns.numpy()


class RayEvaluator:
    """Evaluates generations on `workers` Ray actors, one population chunk each.

    Args:
        config: The run's configuration (every actor builds the run's engine from it).
        workers: Actors, one CPU each.
        address: The Ray cluster to join (e.g. ``"auto"`` or ``"10.0.0.1:6379"``); None joins
            the one this process is connected to, or starts a local one.
        start_timeout: Seconds to wait for the actors to build their engines.
        chunk_timeout: Seconds a chunk may run before its actor is replaced.
        retries: Times a chunk is played again after its actor died or timed out.
    """

    def __init__(
        self,
        config: EvolveConfig,
        workers: int = 2,
        address: str | None = None,
        start_timeout: float = 120.0,
        chunk_timeout: float = 1800.0,
        retries: int = 3,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers={workers!r} must be a positive integer")
        self.ray, self.owns_connection = connect(address)
        self.config = config
        self.start_timeout, self.chunk_timeout, self.retries = start_timeout, chunk_timeout, retries
        self.actor_class = self.ray.remote(num_cpus=1, max_restarts=0)(EngineWorker)
        self.actors = self._start(workers)
        self.restarts = 0  # actors replaced after a death or a timeout
        self.last_generation: dict[str, float] = {}  # its wall seconds and parameter bytes

    def _start(self, count: int) -> list[Any]:
        """`count` actors with their engines built; refuses when none starts."""
        ray = self.ray
        actors = [self.actor_class.remote(self.config) for _ in range(count)]
        ready = {actor.ready.remote(): actor for actor in actors}
        done, late = ray.wait(list(ready), num_returns=count, timeout=self.start_timeout)
        started, errors = [], []
        for ref in done:
            try:
                ray.get(ref)
                started.append(ready[ref])
            except ray.exceptions.RayError as error:
                errors.append(error)
        for ref in late:
            ray.kill(ready[ref])
        if not started:
            cpus = ray.cluster_resources().get("CPU", 0)
            reason = f": {errors[0]}" if errors else f" within {self.start_timeout:g} s"
            raise RuntimeError(
                f"no Ray actor could be started on a cluster of {cpus:g} CPUs (each needs 1)"
                f"{reason}"
            )
        if len(started) < count:
            warnings.warn(f"only {len(started)} of {count} Ray actors started", stacklevel=3)
        return started

    def _replace(self, slot: int) -> None:
        """Kills the actor in `slot` (if still alive) and puts a fresh one there."""
        self.ray.kill(self.actors[slot], no_restart=True)
        self.actors[slot] = self.actor_class.remote(self.config)
        self.restarts += 1

    def returns(self, candidates: Tensor, instances: Any, policy_seeds: Tensor) -> Tensor:
        """Returns (P, I, M) of candidates (P, D) on instances (I, ...) under M policy seeds."""
        began = time.perf_counter()
        shared = self.ray.put((instances, policy_seeds.numpy()))
        size = math.ceil(len(candidates) / len(self.actors))
        chunks = [chunk.numpy() for chunk in candidates.split(size)]
        results = self._play(chunks, shared)
        self.last_generation = {
            "wall_s": time.perf_counter() - began,
            "parameter_bytes": sum(chunk.nbytes for chunk in chunks),
        }
        return torch.cat([_tensor(result) for result in results])

    def _play(self, chunks: list[np.ndarray], shared: Any) -> list[np.ndarray]:
        """Every chunk's returns, each chunk on an idle actor; lost chunks played again."""
        ray = self.ray
        results: list[np.ndarray | None] = [None] * len(chunks)
        queue, idle = deque(range(len(chunks))), deque(range(len(self.actors)))
        attempts = [0] * len(chunks)
        running: dict[Any, tuple[int, int, float]] = {}  # ref -> (chunk, actor slot, start)
        while queue or running:
            while queue and idle:
                index, slot = queue.popleft(), idle.popleft()
                ref = self.actors[slot].returns.remote(chunks[index], shared)
                running[ref] = (index, slot, time.monotonic())
            done, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
            for ref in done:
                index, slot, _ = running.pop(ref)
                try:
                    results[index] = ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as error:
                    self._retry(index, attempts, error)
                    self._replace(slot)
                    queue.appendleft(index)
                idle.append(slot)
            for ref, (index, slot, start) in list(running.items()):
                if time.monotonic() - start > self.chunk_timeout:
                    del running[ref]
                    late = TimeoutError(f"no result within chunk_timeout={self.chunk_timeout:g} s")
                    self._retry(index, attempts, late)
                    self._replace(slot)
                    queue.appendleft(index)
                    idle.append(slot)
        return results

    def _retry(self, index: int, attempts: list[int], error: Exception) -> None:
        """Counts an attempt of chunk `index`; gives up after `retries` of them."""
        attempts[index] += 1
        if attempts[index] > self.retries:
            raise RuntimeError(
                f"chunk {index} of the generation failed {attempts[index]} times; last: {error}"
            ) from error

    def close(self) -> None:
        """Stops the actors (and the Ray connection this evaluator opened)."""
        for actor in self.actors:
            self.ray.kill(actor, no_restart=True)
        self.actors = []
        if self.owns_connection:
            self.ray.shutdown()
