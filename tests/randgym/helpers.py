"""Test helpers shared by the env tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from randgym.wrappers import UniformAdversary


def assert_tree_equal(actual: Any, expected: Any, path: str = "") -> None:
    """Asserts two nests of dicts / arrays / scalars are equal in structure, dtype and value."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: {type(actual)} is not a dict"
        assert set(actual) == set(expected), f"{path}: keys {set(actual)} != {set(expected)}"
        for key in expected:
            assert_tree_equal(actual[key], expected[key], f"{path}/{key}")
    elif isinstance(expected, list | tuple):
        assert len(actual) == len(expected), f"{path}: length {len(actual)} != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_tree_equal(a, e, f"{path}[{i}]")
    elif isinstance(expected, np.ndarray) and expected.dtype == object:
        assert isinstance(actual, np.ndarray) and actual.shape == expected.shape, path
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_tree_equal(a, e, f"{path}[{i}]")
    elif expected is None:
        assert actual is None, f"{path}: {actual!r} is not None"
    else:
        a, e = np.asarray(actual), np.asarray(expected)
        assert a.shape == e.shape, f"{path}: shape {a.shape} != {e.shape}"
        assert a.dtype == e.dtype, f"{path}: dtype {a.dtype} != {e.dtype}"
        np.testing.assert_array_equal(a, e, err_msg=path)


class RecordingAdversary(UniformAdversary):
    """Uniform instances; remembers what it proposed and what it observed."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__(seed)
        self.proposed: list = []
        self.observed: list = []

    def propose(self):
        instance = super().propose()
        self.proposed.append(self.generator.key(instance))
        return instance

    def _record(self, instance, episode_return):
        self.observed.append((self.generator.key(instance), episode_return))
