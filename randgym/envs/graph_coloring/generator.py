"""Instances of graph coloring: the graph, as a symmetric int8 adjacency matrix (N, N).

Two families of graphs on N labelled vertices: `"cycle"`, a uniformly random Hamiltonian
cycle (the paper's task: a random relabelling of the canonical cycle 0-1-...-(N-1)-0), and
`"erdos_renyi"`, each of the N(N-1)/2 edges present independently with `edge_prob`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from randgym.envs.generator import InstanceGenerator
from randgym.envs.graph_coloring.cycles import (
    adjacency_from_orders,
    cycle_orders,
    index_dtype,
    indices_from_orders,
    num_cycles,
    orders_from_indices,
)
from randgym.envs.limits import COLORING_MAX_VERTICES
from randgym.envs.validation import check_choice, check_float, check_int

FAMILIES = ("cycle", "erdos_renyi")


def check_adjacency(instance: Any, n_vertices: int) -> np.ndarray:
    """Returns `instance` as an int8 adjacency matrix, or raises ValueError saying why not.

    It must be an (n_vertices, n_vertices) array-like of integers (or bools) in {0, 1},
    symmetric, with a zero diagonal.
    """
    array = np.asarray(instance)
    integral = np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_
    if array.shape != (n_vertices, n_vertices) or not integral:
        raise ValueError(
            f"graph instance must be an integer adjacency matrix of shape "
            f"({n_vertices}, {n_vertices}), got shape {array.shape} and dtype {array.dtype}"
        )
    values = np.unique(array)
    if not np.isin(values, (0, 1)).all():
        raise ValueError(f"adjacency entries must be 0 or 1, got values {values.tolist()}")
    if (array != array.T).any():
        u, v = np.argwhere(array != array.T)[0]
        raise ValueError(
            f"adjacency must be symmetric, but entry [{u}, {v}] is {array[u, v]} "
            f"and entry [{v}, {u}] is {array[v, u]}"
        )
    loops = np.flatnonzero(np.diagonal(array))
    if loops.size:
        raise ValueError(
            f"adjacency must have a zero diagonal, but vertices {loops.tolist()} have self-loops"
        )
    return array.astype(np.int8)


class CycleGenerator(InstanceGenerator):
    """Uniform Hamiltonian cycles on `n_vertices` labelled vertices, all (N-1)!/2 enumerated.

    The numbering is the one of `randgym.envs.graph_coloring.cycles` (by the vertex sequence
    from 0); `cycles_from_indices` and `indices_of` are its fast batched forms.

    Args:
        n_vertices: The number N of vertices, 3 to 256.
    """

    def __init__(self, n_vertices: int = 10) -> None:
        self.n_vertices = check_int("n_vertices", n_vertices, 3, COLORING_MAX_VERTICES)

    @property
    def num_instances(self) -> int:
        """(N-1)!/2: 181,440 for N = 10."""
        return num_cycles(self.n_vertices)

    def sample_batch(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Uniform cycles (n, N, N) int8: the canonical cycle under uniform relabellings."""
        return adjacency_from_orders(self.sample_sequences(rng, n))

    def sample_sequences(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """The vertex sequences (n, N) int64, uniform permutations, of ``sample_batch``'s cycles.

        The same draws from ``rng`` as ``sample_batch``; ``orders_of_sequences`` gives their
        orders.
        """
        return np.argsort(rng.random((n, self.n_vertices)), axis=1)

    def validate(self, instance: Any) -> np.ndarray:
        """The instance as int8 adjacency, if it is one cycle through all N vertices."""
        return self._adjacency_and_order(instance)[0]

    def instance_from_index(self, index: int) -> np.ndarray:
        """The cycle numbered `index`, as int8 adjacency (N, N)."""
        return self.cycles_from_indices(np.array([self._check_index(index)], dtype=object))[0]

    def index_of(self, instance: Any) -> int:
        """The number of a cycle (inverse of `instance_from_index`)."""
        _, order = self._adjacency_and_order(instance)
        return int(indices_from_orders(order[None])[0])

    def cycles_from_indices(self, indices: Any) -> np.ndarray:
        """Batched `instance_from_index`: indices (k,) to adjacencies (k, N, N) int8."""
        raw = np.asarray(indices)
        if raw.ndim != 1 or raw.dtype.kind not in "iuO":
            raise ValueError(
                f"cycle indices must be a 1-d integer array, got shape {raw.shape} "
                f"and dtype {raw.dtype}"
            )
        outside = (raw < 0) | (raw >= self.num_instances)
        if outside.any():
            raise ValueError(
                f"cycle index {raw[outside][0]} is out of range; "
                f"expected 0 <= i < {self.num_instances}"
            )
        orders = orders_from_indices(raw.astype(index_dtype(self.n_vertices)), self.n_vertices)
        return adjacency_from_orders(orders)

    def instances_from_indices(self, indices: Any) -> np.ndarray:
        """The cycles numbered `indices` (k,), as adjacencies (k, N, N) int8."""
        return self.cycles_from_indices(indices)

    def indices_of(self, adjacencies: Any) -> np.ndarray:
        """Batched `index_of`: adjacencies (k, N, N) to indices (k,) (int64 for N <= 21)."""
        array = np.asarray(adjacencies)
        n = self.n_vertices
        integral = np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_
        if array.ndim != 3 or array.shape[1:] != (n, n) or not integral:
            raise ValueError(
                f"adjacencies must be integers of shape (k, {n}, {n}), "
                f"got shape {array.shape} and dtype {array.dtype}"
            )
        orders, is_cycle = cycle_orders(array)
        bad = ~is_cycle | ((array != 0) & (array != 1)).any(axis=(1, 2))
        bad |= (array != array.transpose(0, 2, 1)).any(axis=(1, 2))
        bad |= np.diagonal(array, axis1=1, axis2=2).any(axis=1)
        if bad.any():
            raise ValueError(
                f"adjacencies at batch positions {np.flatnonzero(bad)[:10].tolist()} are not "
                f"Hamiltonian cycles on {n} vertices (validate() one of them to see why)"
            )
        return indices_from_orders(orders)

    def _adjacency_and_order(self, instance: Any) -> tuple[np.ndarray, np.ndarray]:
        """The validated int8 adjacency (N, N) of a cycle and its order (N,) from vertex 0."""
        adjacency = check_adjacency(instance, self.n_vertices)
        degrees = adjacency.sum(axis=1)
        if (degrees != 2).any():
            raise ValueError(
                f"family='cycle' needs every vertex to have degree 2, got degrees "
                f"{degrees.tolist()}"
            )
        orders, is_cycle = cycle_orders(adjacency[None])
        if not is_cycle[0]:
            length = int(np.argmax(orders[0, 1:] == 0)) + 1
            raise ValueError(
                f"family='cycle' needs a single cycle through all {self.n_vertices} vertices, "
                f"but vertex 0 lies on a cycle of length {length}"
            )
        return adjacency, orders[0]


class ErdosRenyiGenerator(InstanceGenerator):
    """Random graphs G(N, p): each of the N(N-1)/2 edges independently with probability p.

    The instance space is every simple graph on N labelled vertices (what `validate`
    accepts), 2**(N(N-1)/2) of them: graph `i` has edge `j` (the j-th pair `u < v` in
    row-major order) iff bit `j` of `i` is set. `sample` weighs them by `p` (uniform for
    p = 0.5).

    Args:
        n_vertices: The number N of vertices, 3 to 256.
        edge_prob: The probability p of each edge, in (0, 1].
    """

    def __init__(self, n_vertices: int = 10, edge_prob: float = 0.5) -> None:
        self.n_vertices = check_int("n_vertices", n_vertices, 3, COLORING_MAX_VERTICES)
        self.edge_prob = check_edge_prob(edge_prob)
        self._edges = np.triu_indices(self.n_vertices, 1)

    @property
    def num_instances(self) -> int:
        """2**(N(N-1)/2), a Python int."""
        return 2 ** self._edges[0].size

    def sample_batch(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Random graphs (n, N, N) int8."""
        return self._graphs(rng.random((n, self._edges[0].size)) < self.edge_prob)

    def validate(self, instance: Any) -> np.ndarray:
        """The instance as int8 adjacency: any simple graph on N vertices."""
        return check_adjacency(instance, self.n_vertices)

    def instance_from_index(self, index: int) -> np.ndarray:
        """The graph whose edge set is the binary expansion of `index`."""
        index = self._check_index(index)
        bits = [(index >> j) & 1 for j in range(self._edges[0].size)]
        return self._graphs(np.array([bits], dtype=bool))[0]

    def index_of(self, instance: Any) -> int:
        """The number of a graph (inverse of `instance_from_index`)."""
        bits = self.validate(instance)[self._edges]
        return sum(int(bit) << j for j, bit in enumerate(bits))

    def _graphs(self, edges: np.ndarray) -> np.ndarray:
        """Adjacencies (k, N, N) int8 from edge indicators (k, N(N-1)/2)."""
        adjacency = np.zeros((len(edges), self.n_vertices, self.n_vertices), dtype=np.int8)
        adjacency[:, self._edges[0], self._edges[1]] = edges
        adjacency[:, self._edges[1], self._edges[0]] = edges
        return adjacency


def check_edge_prob(edge_prob: object) -> float:
    """Returns `edge_prob` as a float, or raises ValueError unless it is in (0, 1]."""
    value = check_float("edge_prob", edge_prob)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"edge_prob={edge_prob!r} must be a probability in (0, 1]")
    return value


def make_generator(
    family: str, n_vertices: int, edge_prob: float = 0.5
) -> CycleGenerator | ErdosRenyiGenerator:
    """The generator of graph `family` (one of `FAMILIES`); `edge_prob` is checked always."""
    check_choice("family", family, FAMILIES)
    check_edge_prob(edge_prob)
    if family == "cycle":
        return CycleGenerator(n_vertices)
    return ErdosRenyiGenerator(n_vertices, edge_prob)
