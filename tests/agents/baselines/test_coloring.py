"""The classical colorings against exact rates and slow per-vertex references."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

import randgym  # noqa: F401  (registers the environments)
from agents.baselines.coloring import (
    GreedyById,
    LocalExtremes,
    Neighbourhoods,
    Palette,
    RandomTrials,
    trial_colorings,
)
from agents.baselines.play import baseline_returns
from agents.tasks import make_task
from randgym.envs.graph_coloring import CycleGenerator, count_conflicts, cycle_orders


def all_cycles(n: int) -> np.ndarray:
    """Every labelled cycle on n vertices, (n-1)!/2 adjacencies."""
    generator = CycleGenerator(n)
    return generator.cycles_from_indices(np.arange(generator.num_instances))


def cycle(order: list[int]) -> np.ndarray:
    """The adjacency (1, N, N) of the cycle visiting ``order``."""
    adjacency = np.zeros((1, len(order), len(order)), dtype=np.int8)
    for u, v in zip(order, np.roll(order, -1), strict=True):
        adjacency[0, u, v] = adjacency[0, v, u] = 1
    return adjacency


def neighbour_lists(adjacency: np.ndarray) -> list[list[int]]:
    return [np.flatnonzero(row).tolist() for row in adjacency]


def proper(adjacency: np.ndarray, colors: np.ndarray) -> np.ndarray:
    return count_conflicts(adjacency, colors) == 0


def smallest_free(used: set[int], n_colors: int) -> int:
    return min((c for c in range(n_colors) if c not in used), default=0)


def reference_greedy(adjacency: np.ndarray, rounds: int, n_colors: int = 3) -> list[int]:
    """GreedyById vertex by vertex: each round every vertex reads the states sent at its start."""
    neighbours = neighbour_lists(adjacency)
    colors: list[int | None] = [None] * len(neighbours)
    seen = [set() for _ in neighbours]
    for _ in range(rounds):
        sent = list(colors)
        seen = [{sent[u] for u in around if sent[u] is not None} for around in neighbours]
        for v, around in enumerate(neighbours):
            if sent[v] is None and all(sent[u] is not None or u < v for u in around):
                colors[v] = smallest_free(seen[v], n_colors)
    return [smallest_free(seen[v], n_colors) if c is None else c for v, c in enumerate(colors)]


def exact_trials_rate(adjacency: np.ndarray, rounds: int, n_colors: int = 3) -> Fraction:
    """P(proper) of RandomTrials, by following the exact distribution of the vertices' states.

    A state is (kept colors or None, trial colors); every uncolored vertex's new trial is
    uniform over the colors its neighbours had kept when they spoke (all colors if none is
    left).
    """
    neighbours = neighbour_lists(adjacency)
    n = len(neighbours)
    start = Fraction(1, n_colors**n)
    states = {((None,) * n, trial): start for trial in itertools.product(range(n_colors), repeat=n)}
    for _ in range(rounds):
        following: dict[tuple, Fraction] = defaultdict(Fraction)
        for (kept, trial), chance in states.items():
            told = [trial[v] if kept[v] is None else kept[v] for v in range(n)]
            new_kept, options = [], []
            for v, around in enumerate(neighbours):
                clash = any(told[u] == trial[v] for u in around)
                new_kept.append(kept[v] if kept[v] is not None or clash else trial[v])
                settled = {kept[u] for u in around if kept[u] is not None}
                free = [c for c in range(n_colors) if c not in settled] or list(range(n_colors))
                options.append(free if new_kept[v] is None else [0])  # kept: any placeholder
            weight = chance / math.prod(len(o) for o in options)
            for new_trial in itertools.product(*options):
                following[(tuple(new_kept), new_trial)] += weight
        states = following
    total = Fraction(0)
    for (kept, trial), chance in states.items():
        colors = np.array([[trial[v] if kept[v] is None else kept[v] for v in range(n)]])
        total += chance * bool(proper(adjacency[None], colors)[0])
    return total


def lattice_draws(n: int, rounds: int) -> np.ndarray:
    """Every draw vector (K, T + 1, N) of a lattice on which trial_colorings is exactly uniform.

    The first trial picks among 3 colors (points (j + 1/2) / 3), later ones among 1, 2 or 3
    (points (j + 1/2) / 6): every ``floor(u * k)`` is then uniform over its k values.
    """
    first = (np.arange(3) + 0.5) / 3
    later = (np.arange(6) + 0.5) / 6
    axes = [first] * n + [later] * (n * rounds)
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, n * (rounds + 1))
    return grid.reshape(-1, rounds + 1, n)


def test_palette_draws_and_smallest_free_colors():
    palette = Palette(3)
    used = np.array([0b000, 0b001, 0b010, 0b101, 0b111])
    np.testing.assert_array_equal(palette.smallest_outside(used), [0, 1, 0, 1, 0])
    np.testing.assert_array_equal(palette.draw_outside(used, np.full(5, 0.99)), [2, 2, 2, 1, 2])
    np.testing.assert_array_equal(palette.draw_outside(used, np.full(5, 0.4)), [1, 1, 0, 1, 1])
    with pytest.raises(ValueError, match="n_colors=1 must be an integer from 2"):
        Palette(1)


def test_neighbourhoods_of_graphs_of_uneven_degrees():
    star = np.zeros((1, 4, 4), dtype=np.int8)
    star[0, 0, 1:] = star[0, 1:, 0] = 1
    graphs = Neighbourhoods.of(star)
    assert graphs.local.shape == (1, 4, 3)
    np.testing.assert_array_equal(graphs.present.sum(axis=-1), [[3, 1, 1, 1]])
    np.testing.assert_array_equal(graphs.color_sets(np.array([[2, 0, 1, -1]])), [[3, 4, 4, 4]])


@pytest.mark.parametrize("policy", [GreedyById, lambda n, t: RandomTrials(n, t, 0)])
def test_rounds_must_be_a_count(policy):
    with pytest.raises(ValueError, match="rounds=-1 must be an integer >= 0"):
        policy(5, -1)


def test_greedy_by_id_on_hand_checked_cycles():
    c4, c4_crossed, c10 = cycle([0, 1, 2, 3]), cycle([0, 2, 1, 3]), cycle(list(range(10)))
    cases = [
        (c4, 1, [0, 0, 0, 0]),  # only 3 is done; the others saw nothing colored
        (c4, 2, [1, 0, 1, 0]),  # 2 follows 3; 0 saw 3's color, 1 saw none
        (c4_crossed, 1, [0, 0, 0, 0]),  # 2 and 3 are both local maxima
        (c4_crossed, 2, [1, 1, 0, 0]),
        (c10, 2, [1, 0, 0, 0, 0, 0, 0, 0, 1, 0]),  # the monotone labelling beats 2 rounds
    ]
    for adjacency, rounds, colors in cases:
        np.testing.assert_array_equal(
            GreedyById(len(colors), rounds)({"adjacency": adjacency[0]}), colors
        )


@pytest.mark.parametrize("n", [5, 6, 7])
def test_greedy_by_id_matches_a_per_vertex_simulation_on_every_cycle(n):
    cycles = all_cycles(n)
    for rounds in range(n + 1):
        colors = GreedyById(n, rounds).colorings(Neighbourhoods.of(cycles))
        expected = [reference_greedy(adjacency, rounds) for adjacency in cycles]
        np.testing.assert_array_equal(colors, expected)
    assert proper(cycles, colors).all()  # with N rounds every cycle is colored greedily


def test_greedy_by_id_on_every_cycle_of_c10_and_its_worst_case():
    cycles = all_cycles(10)
    chosen = np.random.default_rng(0).choice(len(cycles), 300, replace=False)
    graphs = Neighbourhoods.of(cycles)
    colors = GreedyById(10, 2).colorings(graphs)
    expected = [reference_greedy(cycles[i], 2) for i in chosen]
    np.testing.assert_array_equal(colors[chosen], expected)
    assert proper(cycles, colors).sum() == 44_928  # 0.2476 of the 181,440 labellings
    assert proper(cycles, GreedyById(10, 10).colorings(graphs)).all()


def test_random_trials_exact_rate_by_hand_on_a_triangle():
    # Trials all distinct (6/27): proper. All equal (3/27): three fresh uniform draws, 6/27.
    # Two equal (18/27): the third keeps its color unseen; the two redraw, 2 of 9 pairs work.
    assert exact_trials_rate(cycle([0, 1, 2])[0], 1) == Fraction(32, 81)


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7])
def test_random_trials_without_rounds_is_the_uniform_coloring(n):
    chromatic = 2**n + 2 * (-1) ** n  # proper 3-colorings of C_n
    assert exact_trials_rate(cycle(list(range(n)))[0], 0) == Fraction(chromatic, 3**n)


@pytest.mark.parametrize(("n", "rounds"), [(3, 1), (3, 2), (4, 1), (5, 0)])
def test_random_trials_is_proper_at_the_exact_rate_on_every_draw_of_a_lattice(n, rounds):
    adjacency = cycle(list(np.random.default_rng(n).permutation(n)))
    draws = lattice_draws(n, rounds)
    graphs = Neighbourhoods.of(np.broadcast_to(adjacency, (len(draws), n, n)))
    proper_count = proper(adjacency, trial_colorings(graphs, draws, Palette(3))).sum()
    assert Fraction(int(proper_count), len(draws)) == exact_trials_rate(adjacency[0], rounds)


@pytest.mark.parametrize("rounds", [2, 3])
def test_random_trials_on_c5_samples_at_the_exact_rate(rounds):
    adjacency = cycle([0, 3, 1, 4, 2])
    p = float(exact_trials_rate(adjacency[0], rounds))
    n = 100_000
    draws = np.random.default_rng(rounds).random((n, rounds + 1, 5))
    graphs = Neighbourhoods.of(np.broadcast_to(adjacency, (n, 5, 5)))
    rate = proper(adjacency, trial_colorings(graphs, draws, Palette(3))).mean()
    # 6 standard deviations: a false failure has a chance below 1e-8
    assert abs(rate - p) < 6 * math.sqrt(p * (1 - p) / n)


def test_more_rounds_of_random_trials_succeed_more_often_on_c5():
    adjacency = cycle(list(range(5)))[0]
    rates = [exact_trials_rate(adjacency, rounds) for rounds in range(5)]
    assert rates == sorted(rates) and rates[0] < rates[-1] < 1


def test_local_extremes_fail_exactly_on_four_monotone_keys():
    cycles = all_cycles(7)
    colors = LocalExtremes(7).colorings(Neighbourhoods.of(cycles))
    orders, _ = cycle_orders(cycles)  # (360, 7) the ids around each cycle
    windows = np.stack([np.roll(orders, -i, axis=1)[:, :4] for i in range(7)], axis=1)
    steps = np.diff(windows, axis=-1)  # (360, 7, 3)
    monotone = ((steps > 0).all(axis=-1) | (steps < 0).all(axis=-1)).any(axis=-1)
    np.testing.assert_array_equal(proper(cycles, colors), ~monotone)


def test_local_extremes_of_random_keys_succeed_as_often_as_ids_over_all_labellings():
    # Keys only matter through their order: on all labellings, any keys do as well as the ids.
    cycles = all_cycles(7)
    graphs = Neighbourhoods.of(cycles)
    by_ids = proper(cycles, LocalExtremes(7).colorings(graphs)).sum()
    assert 0 < by_ids < len(cycles)
    for seed in range(3):
        assert proper(cycles, LocalExtremes(7, seed).colorings(graphs)).sum() == by_ids


def test_batched_returns_equal_the_env_episodes_for_every_task_baseline():
    task = make_task("coloring", n_vertices=6)
    cycles = all_cycles(6)
    for baseline in task.baselines():
        assert baseline.batch_returns is not None  # the task's evaluations take the fast path
        played = replace(baseline, batch_returns=None)  # one env episode at a time
        expected = baseline_returns(task.env, played, cycles, 3)
        np.testing.assert_array_equal(baseline_returns(task.env, baseline, cycles, 3), expected)


def test_the_task_gives_the_distributed_baselines_the_paper_models_rounds():
    task = make_task("coloring")
    names = [baseline.name for baseline in task.baselines()]
    rounds = task.presets["paper"]["n_layers"]
    assert f"random trials, {rounds} rounds" in names and f"greedy by id, {rounds} rounds" in names
    assert "uniform random coloring" in names
