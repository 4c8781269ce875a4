"""Hand-written distributed colorings: every vertex decides from what its neighbours tell it.

A *round* is one exchange of messages along every edge, what one attention layer lets a vertex
learn: after ``T`` rounds a vertex's color may depend only on the graph within distance ``T``
of it (and on the ids and random draws there). Each message is the sender's state at the start
of the round, so a vertex that settles its color in round ``t`` is seen as settled from round
``t + 1`` on.

Every policy colors a batch of graphs at once (``colorings``) and one env observation
(``__call__``); ``batch_returns`` plays a baseline on many graphs without the env's per-episode
overhead. Sets of colors are bit masks (bit c for color c).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the tasks import the baselines
    from agents.tasks.base import Baseline

N_COLORS = 3  # the task's palette: 3-coloring of cycles
MAX_COLORS = 12  # color sets are looked up in tables of 2**n_colors rows
SINGLETONS = np.concatenate(([0], 1 << np.arange(MAX_COLORS)))  # [c + 1]: the set {c}, or {}


@dataclass(frozen=True)
class Neighbourhoods:
    """The neighbours of every vertex of a batch of graphs, padded to the largest degree.

    Attributes:
        local: (B, N, D) the vertex numbers of the neighbours, increasing (0 on padding).
        present: (B, N, D) False on padding.
        flat: (B, N, D) the neighbours' positions in the flattened batch (B * N on padding).
    """

    local: np.ndarray
    present: np.ndarray
    flat: np.ndarray

    @classmethod
    def of(cls, adjacency: np.ndarray) -> Neighbourhoods:
        """The neighbourhoods in adjacency matrices (B, N, N)."""
        linked = np.asarray(adjacency) != 0
        batch, n_vertices = linked.shape[:2]
        degree = int(linked.sum(axis=-1).max(initial=0))
        graph, vertex, neighbour = np.nonzero(linked)
        slot = (np.cumsum(linked, axis=-1, dtype=np.int16) - 1)[graph, vertex, neighbour]
        local = np.zeros((batch, n_vertices, degree), dtype=np.int64)
        present = np.zeros(local.shape, dtype=bool)
        local[graph, vertex, slot], present[graph, vertex, slot] = neighbour, True
        flat = local + (np.arange(batch) * n_vertices)[:, None, None]
        return cls(local, present, np.where(present, flat, batch * n_vertices))

    def gather(self, values: np.ndarray, padding: object) -> np.ndarray:
        """The neighbours' entries (B, N, D) of per-vertex values (B, N), ``padding`` if none."""
        return np.append(values.reshape(-1), padding)[self.flat]

    def union(self, sets: np.ndarray) -> np.ndarray:
        """The union (B, N) of the neighbours' bit masks ``sets`` (B, N)."""
        around = self.gather(sets, 0)
        union = around[..., 0] if around.shape[-1] else np.zeros_like(sets)
        for d in range(1, around.shape[-1]):  # the degree is small: a loop beats a reduce
            union |= around[..., d]
        return union

    def proper(self, colors: np.ndarray) -> np.ndarray:
        """Whether no edge joins two vertices of the same color, (B,) bool."""
        return ~(self.gather(colors, -1) == colors[..., None]).any(axis=(1, 2))

    def color_sets(self, colors: np.ndarray) -> np.ndarray:
        """The set (B, N) of the neighbours' colors (B, N); -1 (no color) adds nothing."""
        return self.union(color_bits(colors))


def color_bits(colors: np.ndarray) -> np.ndarray:
    """Colors as one-element sets (bit c for color c); -1 (no color) as the empty set."""
    return SINGLETONS[colors + 1]


class Palette:
    """Choices among the colors outside a set; a full set leaves the whole palette.

    Args:
        n_colors: The palette size, 2 to `MAX_COLORS`.
    """

    def __init__(self, n_colors: int) -> None:
        if not isinstance(n_colors, int | np.integer) or not 2 <= n_colors <= MAX_COLORS:
            raise ValueError(f"n_colors={n_colors!r} must be an integer from 2 to {MAX_COLORS}")
        self.n_colors = n_colors
        sets = np.arange(2**n_colors)[:, None]
        free = (sets >> np.arange(n_colors)) & 1 == 0  # (2**C, C)
        free[~free.any(axis=1)] = True
        self.count = free.sum(axis=1)
        self.free = np.argsort(~free, axis=1, kind="stable")  # [set, r]: the r-th free color

    def smallest_outside(self, used: np.ndarray) -> np.ndarray:
        """The smallest color outside each set ``used``."""
        return self.free[used, 0]

    def draw_outside(self, used: np.ndarray, draws: np.ndarray) -> np.ndarray:
        """A color uniform among those outside ``used``: the ``floor(u * k)``-th of the k.

        Args:
            used: Color sets (B, N).
            draws: Uniforms in [0, 1) broadcastable to (B, N).
        """
        rank = (draws * self.count[used]).astype(np.int64)  # the floor, as draws >= 0
        return self.free.ravel()[used * self.n_colors + rank]  # faster than free[used, rank]


def check_rounds(rounds: object) -> int:
    """Returns ``rounds`` if it is an int >= 0, or raises ValueError."""
    if isinstance(rounds, bool) or not isinstance(rounds, int | np.integer) or rounds < 0:
        raise ValueError(f"rounds={rounds!r} must be an integer >= 0")
    return int(rounds)


class ColoringPolicy:
    """A coloring of a batch of graphs; the base of the policies below."""

    def colorings(self, graphs: Neighbourhoods) -> np.ndarray:
        """The colors (B, N) int64 of a batch of graphs."""
        raise NotImplementedError

    def __call__(self, obs: dict) -> np.ndarray:
        """The colors (N,) for a GraphColoring observation."""
        return self.colorings(Neighbourhoods.of(np.asarray(obs["adjacency"])[None]))[0]


class LocalExtremes(ColoringPolicy):
    """One round: a vertex below all neighbours' keys takes color 0, above all 1, else 2.

    On a cycle it is proper unless two adjacent vertices both take color 2, i.e. unless four
    consecutive keys rise (or fall) along the cycle. With ``policy_seed=None`` the keys are the
    vertex ids (deterministic: the adversary picks a labelling with a monotone run); otherwise
    random keys drawn from the seed.
    """

    def __init__(self, n_vertices: int, policy_seed: int | None = None) -> None:
        if policy_seed is None:
            self.keys = np.arange(float(n_vertices))
        else:
            self.keys = np.random.default_rng(policy_seed).random(n_vertices)

    def colorings(self, graphs: Neighbourhoods) -> np.ndarray:
        """The colors (B, N) of a batch of graphs."""
        around = self.keys[graphs.local]  # (B, N, D)
        lowest = np.where(graphs.present, around, np.inf).min(axis=-1, initial=np.inf)
        highest = np.where(graphs.present, around, -np.inf).max(axis=-1, initial=-np.inf)
        colors = np.full(graphs.local.shape[:2], 2)
        colors[self.keys < lowest] = 0
        colors[self.keys > highest] = 1
        return colors


class RandomTrials(ColoringPolicy):
    """Randomized coloring by random trials (the classical randomized (Δ+1)-coloring).

    Every vertex starts uncolored with a trial color drawn uniformly from the palette. In each
    round every uncolored vertex tells its neighbours its trial color (a colored one tells its
    color); it keeps its trial for good if no neighbour told the same color, and otherwise
    draws a new trial uniformly among the colors that no neighbour had kept when it spoke.
    Kept colors never clash: two neighbours with the same trial both lose it, and a neighbour
    that already kept a color announces it. After ``rounds`` rounds the vertices still
    uncolored play their latest trial unchecked, so the coloring is improper with a probability
    that shrinks with ``rounds``; ``rounds=0`` is the uniformly random coloring. The draws
    ignore the ids: every labelling of a graph has the same success rate.

    Args:
        n_vertices: N.
        rounds: The number T of communication rounds (attention layers of the model).
        policy_seed: Seeds the T + 1 uniform draws of each vertex.
        n_colors: The palette size.
    """

    def __init__(
        self, n_vertices: int, rounds: int, policy_seed: int, n_colors: int = N_COLORS
    ) -> None:
        rounds = check_rounds(rounds)
        self.draws = np.random.default_rng(policy_seed).random((rounds + 1, n_vertices))
        self.palette = Palette(n_colors)

    def colorings(self, graphs: Neighbourhoods) -> np.ndarray:
        """The colors (B, N) of a batch of graphs under this policy's draws."""
        return trial_colorings(graphs, self.draws, self.palette)


def trial_colorings(graphs: Neighbourhoods, draws: np.ndarray, palette: Palette) -> np.ndarray:
    """The colors (B, N) of `RandomTrials` for given draws.

    Args:
        graphs: A batch of B graphs on N vertices.
        draws: (..., T + 1, N) uniforms in [0, 1) broadcastable to (B, T + 1, N): vertex v's
            trial in round t is the ``floor(u * k)``-th of its k allowed colors, u = draws[t, v].
        palette: The colors.
    """
    nobody = np.zeros(graphs.local.shape[:2], dtype=np.int64)  # the empty set of colors
    kept = np.full(nobody.shape, -1)
    trial = palette.draw_outside(nobody, draws[..., 0, :])
    shift = palette.n_colors  # one gather for two sets: what was told and what was kept
    for t in range(1, draws.shape[-2]):
        told = np.where(kept >= 0, kept, trial)
        both = graphs.union(color_bits(told) | color_bits(kept) << shift)
        clash = (both >> trial) & 1 == 1
        kept = np.where((kept < 0) & ~clash, trial, kept)
        trial = palette.draw_outside(both >> shift, draws[..., t, :])  # kept by neighbours
    return np.where(kept >= 0, kept, trial)


class GreedyById(ColoringPolicy):
    """Deterministic greedy coloring in the order of decreasing vertex ids, for T rounds.

    In each round, every uncolored vertex none of whose uncolored neighbours has a higher id
    takes the smallest color that its colored neighbours do not use. Two neighbours never
    color themselves in the same round (one of them has the higher id), so the colors chosen
    are proper; with enough rounds (N suffices) this is the sequential greedy coloring, which
    needs at most Δ + 1 colors. After ``rounds`` rounds, the vertices still uncolored (those at
    the bottom of an increasing run of more than T ids) take the smallest color unused by the
    neighbours they saw colored, without waiting; the adversary picks such labellings.

    Args:
        n_vertices: N.
        rounds: The number T of communication rounds (attention layers of the model).
        n_colors: The palette size.
    """

    def __init__(self, n_vertices: int, rounds: int, n_colors: int = N_COLORS) -> None:
        self.rounds = check_rounds(rounds)
        self.ids = np.arange(n_vertices)
        self.palette = Palette(n_colors)

    def colorings(self, graphs: Neighbourhoods) -> np.ndarray:
        """The colors (B, N) of a batch of graphs."""
        higher = graphs.present & (self.ids[graphs.local] > self.ids[:, None])  # (B, N, D)
        colors = np.full(graphs.local.shape[:2], -1)
        seen = np.zeros_like(colors)  # the colors a vertex saw around it in the last round
        for _ in range(self.rounds):
            uncolored = colors < 0
            seen = graphs.color_sets(colors)
            waiting = (higher & graphs.gather(uncolored, False)).any(axis=-1)
            colors = np.where(uncolored & ~waiting, self.palette.smallest_outside(seen), colors)
        return np.where(colors < 0, self.palette.smallest_outside(seen), colors)


def batch_returns(baseline: Baseline, adjacency: np.ndarray, n_seeds: int) -> np.ndarray:
    """What ``play.baseline_returns`` gives for a coloring baseline, on all graphs at once.

    The same policy seeds (``range(n_seeds)``, one play if deterministic) and the env's reward
    (1 for a proper coloring), without the env's per-episode validation.

    Args:
        baseline: A baseline whose policies are `ColoringPolicy` objects.
        adjacency: Graphs (I, N, N).
        n_seeds: Policy seeds of a randomized baseline.

    Returns:
        The returns (I,) averaged over the seeds.
    """
    graphs = Neighbourhoods.of(adjacency)
    seeds = range(n_seeds if baseline.randomized else 1)
    return np.mean([graphs.proper(baseline.make(s).colorings(graphs)) for s in seeds], axis=0)
