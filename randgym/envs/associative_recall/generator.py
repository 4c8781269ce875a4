"""Instances of associative recall: N value vectors of d bits and the index of the queried key.

An instance is a dict `{"values": int8 (N, d) array of 0/1, "query": int64 scalar}`; a batch
is `{"values": (n, N, d), "query": (n,)}`. Value `i` belongs to the one-hot key `e_i`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from randgym.envs.generator import InstanceGenerator
from randgym.envs.limits import RECALL_MAX_PAIRS, RECALL_MAX_VALUE_BITS
from randgym.envs.validation import check_int

INSTANCE_KEYS = ("query", "values")


class RecallGenerator(InstanceGenerator):
    """Uniform recall instances: `n_pairs * value_bits` fair bits and a uniform query index.

    The `n_pairs * 2 ** (n_pairs * value_bits)` instances are numbered
    `index = query * 2 ** (n_pairs * value_bits) + bits`, where `bits` reads the values
    row by row (key 0 first) as one binary number, most significant bit first. So the
    enumeration runs over queries, then over the values in lexicographic order.

    Args:
        n_pairs: The number N of key-value pairs, 1 to 1024.
        value_bits: The number d of bits of a value, 1 to 30.
    """

    def __init__(self, n_pairs: int, value_bits: int) -> None:
        self.n_pairs = check_int("n_pairs", n_pairs, 1, RECALL_MAX_PAIRS)
        self.value_bits = check_int("value_bits", value_bits, 1, RECALL_MAX_VALUE_BITS)

    @property
    def num_bits(self) -> int:
        """The number of value bits in an instance, `n_pairs * value_bits`."""
        return self.n_pairs * self.value_bits

    @property
    def num_instances(self) -> int:
        """Every query position times every filling of the values."""
        return self.n_pairs * 2**self.num_bits

    def sample_batch(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        """`n` instances: values (n, N, d) int8 fair bits and queries (n,) int64, uniform."""
        return {"values": self.random_values(rng, n), "query": rng.integers(self.n_pairs, size=n)}

    def random_values(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """`n` fillings of the values: (n, N, d) int8 fair bits, eight bits per random byte."""
        count = n * self.num_bits
        random_bytes = rng.integers(0, 256, size=-(-count // 8), dtype=np.uint8)
        bits = np.unpackbits(random_bytes, count=count).view(np.int8)
        return bits.reshape(n, self.n_pairs, self.value_bits)

    def query_set(self, fillings: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Every query position x every queried value x `fillings` random fillings of the rest.

        The evaluation inputs of the paper's code (32 query values x N positions x 16
        fillings for d = 5): a batch of `N * 2**d * fillings` instances, ordered by position,
        then queried value (in binary order, most significant bit first), then filling. Each
        instance draws its own filling of the other values.

        Args:
            fillings: The number of random fillings per (position, value) pair, >= 1.
            rng: The source of the fillings.

        Returns:
            A batch `{"values": (n, N, d) int8, "query": (n,) int64}`.
        """
        fillings = check_int("fillings", fillings, 1)
        n_values = 2**self.value_bits
        n = self.n_pairs * n_values * fillings
        values = self.random_values(rng, n)
        query = np.repeat(np.arange(self.n_pairs), n_values * fillings)
        value_ids = np.tile(np.repeat(np.arange(n_values), fillings), self.n_pairs)
        shifts = np.arange(self.value_bits - 1, -1, -1)
        values[np.arange(n), query] = (value_ids[:, None] >> shifts) & 1
        return {"values": values, "query": query}

    def validate(self, instance: Any) -> dict[str, Any]:
        """The canonical form of a dict `{"values", "query"}` or a tuple `(values, query)`.

        Values are an (N, d) array-like of 0/1 integers (or bools); the query is an integer
        (not a bool) in `[0, N)`.
        """
        values, query = self._unpack(instance)
        return {"values": self._check_values(values), "query": self._check_query(query)}

    def instance_from_index(self, index: int) -> dict[str, Any]:
        """The instance numbered `index`."""
        query, bits = divmod(self._check_index(index), 2**self.num_bits)
        digits = np.frombuffer(f"{bits:0{self.num_bits}b}".encode(), dtype=np.uint8) - ord("0")
        values = digits.astype(np.int8).reshape(self.n_pairs, self.value_bits)
        return {"values": values, "query": np.int64(query)}

    def index_of(self, instance: Any) -> int:
        """The number of an instance (inverse of `instance_from_index`)."""
        instance = self.validate(instance)
        digits = (instance["values"].reshape(-1) + ord("0")).astype(np.uint8).tobytes()
        return int(instance["query"]) * 2**self.num_bits + int(digits, 2)

    @staticmethod
    def _unpack(instance: Any) -> tuple[Any, Any]:
        if isinstance(instance, tuple) and len(instance) == 2:
            return instance
        if not isinstance(instance, dict):
            raise ValueError(
                f"recall instance {instance!r} must be a dict with keys {list(INSTANCE_KEYS)} "
                "or a tuple (values, query)"
            )
        missing = sorted(set(INSTANCE_KEYS) - set(instance))
        unknown = sorted(set(instance) - set(INSTANCE_KEYS), key=repr)
        if missing or unknown:
            raise ValueError(
                f"recall instance keys {sorted(instance, key=repr)} are wrong (missing "
                f"{missing}, unknown {unknown}); expected exactly {list(INSTANCE_KEYS)}"
            )
        return instance["values"], instance["query"]

    def _check_values(self, values: Any) -> np.ndarray:
        shape = (self.n_pairs, self.value_bits)
        try:
            array = np.asarray(values)
        except ValueError as error:
            raise ValueError(f"values {values!r} must be a {shape} array of 0/1") from error
        if array.shape != shape:
            raise ValueError(f"values {values!r} must have shape {shape}, got {array.shape}")
        if array.dtype != np.bool_ and not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"values {values!r} must be integers 0/1, got dtype {array.dtype}")
        if not np.isin(array, (0, 1)).all():
            raise ValueError(f"values {values!r} must contain only 0 and 1")
        return array.astype(np.int8)

    def _check_query(self, query: Any) -> np.int64:
        if isinstance(query, bool | np.bool_) or not (
            isinstance(query, int | np.integer)
            or (isinstance(query, np.ndarray) and query.ndim == 0 and query.dtype.kind in "iu")
        ):
            raise ValueError(f"query {query!r} must be an integer key index")
        if not 0 <= query < self.n_pairs:
            raise ValueError(
                f"query {query!r} is out of range; expected 0 <= query < {self.n_pairs}"
            )
        return np.int64(query)
