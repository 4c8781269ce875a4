"""The instance-generator contract shared by every task.

An *instance* is the part of an episode that an adversary controls (the treasure cell, the
recall values and query, the graph). A generator samples instances, validates user-supplied
ones and, where the instance space is finite, enumerates it and maps indices to instances
and back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterator
from typing import Any

import numpy as np

from randgym.envs.batching import batch_index, batch_stack


class InstanceGenerator(ABC):
    """Samples, validates and (where finite) enumerates the instances of one task."""

    @property
    @abstractmethod
    def num_instances(self) -> int | None:
        """The size of the instance space (a Python int, possibly huge), None if infinite."""

    @abstractmethod
    def sample_batch(self, rng: np.random.Generator, n: int) -> Any:
        """Draws `n` instances as one batch of arrays (leading dimension `n`)."""

    @abstractmethod
    def validate(self, instance: Any) -> Any:
        """Returns `instance` in canonical form, or raises ValueError saying what is wrong."""

    def sample(self, rng: np.random.Generator) -> Any:
        """Draws one instance from exactly the distribution of `sample_batch`."""
        return batch_index(self.sample_batch(rng, 1), 0)

    def key(self, instance: Any) -> Hashable:
        """A hashable identity of an instance (equal instances give equal keys)."""
        instance = self.validate(instance)
        if isinstance(instance, dict):
            return tuple((name, np.asarray(value).tobytes()) for name, value in instance.items())
        return np.asarray(instance).tobytes()

    def instance_from_index(self, index: int) -> Any:
        """The instance numbered `index` in the enumeration of a finite space."""
        raise NotImplementedError(f"{type(self).__name__} does not enumerate its instances")

    def index_of(self, instance: Any) -> int:
        """The enumeration index of `instance` (inverse of `instance_from_index`)."""
        raise NotImplementedError(f"{type(self).__name__} does not enumerate its instances")

    def instances_from_indices(self, indices: Any) -> Any:
        """Batched `instance_from_index`: the instances numbered `indices` (k,) as one batch.

        Generators with a vectorised enumeration override it; this one loops.
        """
        return batch_stack([self.instance_from_index(index) for index in indices])

    def instances(self) -> Iterator[Any]:
        """Iterates lazily over the whole (finite) instance space in index order."""
        if self.num_instances is None:
            raise ValueError(f"{type(self).__name__} has an infinite instance space")
        for index in range(self.num_instances):
            yield self.instance_from_index(index)

    def _check_index(self, index: int) -> int:
        count = self.num_instances
        if count is None or not isinstance(index, int | np.integer) or not 0 <= index < count:
            raise ValueError(f"instance index {index!r} is out of range; expected 0 <= i < {count}")
        return int(index)
