"""Helpers for batches of instances and states: arrays, dicts or NamedTuples of arrays."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def batch_stack(items: Sequence[Any]) -> Any:
    """Stacks per-item structures (array-likes, dicts or NamedTuples of them) into one batch."""
    first = items[0]
    if isinstance(first, dict):
        return {key: batch_stack([item[key] for item in items]) for key in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        return type(first)(*(batch_stack(column) for column in zip(*items, strict=True)))
    return np.stack([np.asarray(item) for item in items])


def batch_index(batch: Any, index: int | np.ndarray) -> Any:
    """Returns element (or sub-batch) `index` of a batch: fresh arrays or numpy scalars."""
    if isinstance(batch, dict):
        return {key: batch_index(value, index) for key, value in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(batch_index(value, index) for value in batch))
    value = batch[index]
    if isinstance(index, np.ndarray) and index.ndim:  # advanced indexing made a copy
        return value
    return value.copy() if isinstance(value, np.ndarray) else value


def batch_assign(batch: Any, index: np.ndarray, values: Any) -> None:
    """Writes `values` (a sub-batch) into `batch` at `index`, in place."""
    if isinstance(batch, dict):
        for key in batch:
            batch_assign(batch[key], index, values[key])
    elif isinstance(batch, tuple):
        for target, source in zip(batch, values, strict=True):
            batch_assign(target, index, source)
    else:
        batch[index] = values


def batch_copy(batch: Any) -> Any:
    """Returns a deep copy of a batch's arrays."""
    if isinstance(batch, dict):
        return {key: batch_copy(value) for key, value in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(batch_copy(value) for value in batch))
    return np.array(batch)
