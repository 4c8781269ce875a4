"""Instances of the grid world: the treasure cell, anywhere but the start cell (0, 0)."""

from __future__ import annotations

from typing import Any

import numpy as np

from randgym.envs.generator import InstanceGenerator


class TreasureGenerator(InstanceGenerator):
    """Treasure cells `(x, y)` of a `size` x `size` grid, numbered row by row from (1, 0).

    Index `i` is the cell number `i + 1` in row-major order (`x = c % size`, `y = c // size`),
    so the `size * size - 1` instances skip exactly the start cell.
    """

    def __init__(self, size: int) -> None:
        self.size = size

    @property
    def num_instances(self) -> int:
        """Every cell but the start one."""
        return self.size * self.size - 1

    def sample_batch(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Uniform treasure cells, shape (n, 2) int64."""
        return self.cells_from_indices(rng.integers(self.num_instances, size=n))

    def cells_from_indices(self, indices: np.ndarray) -> np.ndarray:
        """Vectorised `instance_from_index`: (n,) indices to (n, 2) cells."""
        cell = np.asarray(indices, dtype=np.int64) + 1
        return np.stack([cell % self.size, cell // self.size], axis=-1)

    def instances_from_indices(self, indices: Any) -> np.ndarray:
        """The treasure cells numbered `indices` (k,), as (k, 2) int64, range-checked."""
        indices = np.asarray(indices)
        outside = indices[(indices < 0) | (indices >= self.num_instances)]
        if outside.size:
            raise ValueError(
                f"instance index {outside[0]} is out of range; "
                f"expected 0 <= i < {self.num_instances}"
            )
        return self.cells_from_indices(indices)

    def validate(self, instance: Any) -> np.ndarray:
        """A treasure cell as an int64 array `[x, y]` on the grid and off the start."""
        cell = np.asarray(instance)
        if cell.shape != (2,) or not np.issubdtype(cell.dtype, np.integer):
            raise ValueError(
                f"treasure instance {instance!r} must be two integers (x, y), "
                f"got shape {cell.shape} and dtype {cell.dtype}"
            )
        if not ((cell >= 0) & (cell < self.size)).all():
            raise ValueError(f"treasure {instance!r} is off the {self.size}x{self.size} grid")
        if not cell.any():
            raise ValueError("treasure cannot be on the start cell (0, 0)")
        return cell.astype(np.int64)

    def instance_from_index(self, index: int) -> np.ndarray:
        """The treasure cell numbered `index`."""
        return self.cells_from_indices(np.array([self._check_index(index)]))[0]

    def index_of(self, instance: Any) -> int:
        """The number of a treasure cell."""
        x, y = self.validate(instance)
        return int(y * self.size + x - 1)
