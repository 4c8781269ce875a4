"""Hamiltonian cycles on N labelled vertices: counting, ranking and unranking, batched.

A cycle is written as its vertex sequence from vertex 0, `(0, a, m_1, ..., m_{N-3}, b)`, in
the direction that makes `a < b`; every one of the (N-1)!/2 undirected cycles has exactly one
such *order*. Its index is

    pair_rank(a, b) * (N-3)! + lehmer_rank(m_1, ..., m_{N-3}),

where `pair_rank` numbers the C(N-1, 2) pairs `1 <= a < b < N` lexicographically and
`lehmer_rank` numbers the orderings of the N-3 other vertices lexicographically. Every
function works on a batch, looping over the N positions only. Indices are int64 arrays, or
object arrays of Python ints when (N-1)!/2 does not fit in int64 (N >= 22).
"""

from __future__ import annotations

import math

import numpy as np


def num_cycles(n: int) -> int:
    """The number (N-1)!/2 of undirected Hamiltonian cycles on `n` >= 3 labelled vertices."""
    return math.factorial(n - 1) // 2


def index_dtype(n: int) -> type:
    """The dtype of cycle indices on `n` vertices: int64, or object (Python ints) if too big."""
    return np.int64 if num_cycles(n) <= np.iinfo(np.int64).max else object


def orders_from_indices(indices: np.ndarray, n: int) -> np.ndarray:
    """The orders (k, n) int64 of the cycles numbered `indices` (k,) (no range check)."""
    rest = np.asarray(indices, dtype=index_dtype(n)).copy()
    middle = n - 3
    digits = np.zeros((rest.size, middle), dtype=np.int64)  # Lehmer code, mixed radix
    for i in reversed(range(middle)):
        digits[:, i] = rest % (middle - i)
        rest = rest // (middle - i)
    first, last = np.triu_indices(n - 1, 1)
    pair = rest.astype(np.int64)  # the rank of (a, b), below C(n - 1, 2)
    a, b = first[pair] + 1, last[pair] + 1
    rows = np.arange(rest.size)
    free = np.ones((rest.size, middle), dtype=bool)
    orders = np.zeros((rest.size, n), dtype=np.int64)
    orders[:, 1], orders[:, -1] = a, b
    for i in range(middle):
        # The digit-th smallest of the relative values 0..middle-1 not used yet.
        rel = np.argmax(np.cumsum(free, axis=1) > digits[:, i : i + 1], axis=1)
        free[rows, rel] = False
        vertex = rel + 1  # back from the rank among {1..n-1} minus {a, b} to the vertex
        vertex += vertex >= a
        vertex += vertex >= b
        orders[:, i + 2] = vertex
    return orders


def indices_from_orders(orders: np.ndarray) -> np.ndarray:
    """The indices (k,) of cycles given by their orders (k, n) (no validity check)."""
    orders = np.asarray(orders, dtype=np.int64)
    n = orders.shape[1]
    a, b, middle = orders[:, 1:2], orders[:, -1:], orders[:, 2:-1]
    rel = middle - 1 - (middle > a) - (middle > b)  # rank among {1..n-1} minus {a, b}
    pair_rank = np.zeros((n - 1, n - 1), dtype=np.int64)
    first, last = np.triu_indices(n - 1, 1)
    pair_rank[first, last] = np.arange(first.size)
    index = pair_rank[a[:, 0] - 1, b[:, 0] - 1].astype(index_dtype(n))
    for i in range(n - 3):  # Horner form of sum_i smaller_i * (n - 4 - i)!
        smaller = (rel[:, i + 1 :] < rel[:, i : i + 1]).sum(axis=1)
        index = index * (n - 3 - i) + smaller
    return index


def orders_of_sequences(sequences: np.ndarray) -> np.ndarray:
    """The orders (k, n) int64 of the cycles visiting vertices in `sequences` (k, n).

    A sequence may start anywhere on its cycle and go either way; its order is the rotation
    that starts at vertex 0, reversed when needed so that its second vertex is the smaller
    neighbour of 0 (as ``cycle_orders`` walks the adjacency, without reading it).
    """
    sequences = np.asarray(sequences, dtype=np.int64)
    n = sequences.shape[1]
    start = np.argmin(sequences, axis=1)[:, None]  # where vertex 0 is
    forward = np.take_along_axis(sequences, (start + np.arange(n)) % n, axis=1)
    backward = forward[:, -np.arange(n)]  # 0, then the others the other way round
    return np.where(forward[:, 1:2] < backward[:, 1:2], forward, backward)


def adjacency_from_orders(orders: np.ndarray) -> np.ndarray:
    """The int8 adjacency matrices (k, n, n) of cycles visiting vertices in `orders` (k, n)."""
    orders = np.asarray(orders, dtype=np.int64)
    k, n = orders.shape
    adjacency = np.zeros((k, n, n), dtype=np.int8)
    rows = np.arange(k)[:, None]
    following = np.roll(orders, -1, axis=1)
    adjacency[rows, orders, following] = 1
    adjacency[rows, following, orders] = 1
    return adjacency


def cycle_orders(adjacency: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walks the graphs (k, n, n) of 0/1 symmetric adjacencies from vertex 0.

    Returns:
        `(orders, is_cycle)`: the walks (k, n) int64 from vertex 0 towards its smaller
        neighbour, and which graphs (k,) bool are a single Hamiltonian cycle. The order of a
        graph that is not such a cycle is meaningless.
    """
    adjacency = np.asarray(adjacency)
    k, n = adjacency.shape[:2]
    degree_two = (adjacency.sum(axis=2) == 2).all(axis=1)
    low = np.argmax(adjacency, axis=2)  # (k, n) smaller neighbour of each vertex
    high = n - 1 - np.argmax(adjacency[:, :, ::-1], axis=2)  # larger neighbour
    rows = np.arange(k)
    orders = np.zeros((k, n), dtype=np.int64)
    orders[:, 1] = low[:, 0]
    for position in range(2, n):
        previous, current = orders[:, position - 2], orders[:, position - 1]
        low_next, high_next = low[rows, current], high[rows, current]
        orders[:, position] = np.where(low_next == previous, high_next, low_next)
    # With all degrees two, the walk is Hamiltonian iff it does not come back to 0 early.
    is_cycle = degree_two & (orders[:, 1:] != 0).all(axis=1)
    return orders, is_cycle
