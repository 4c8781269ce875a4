"""GraphColoring: cycle enumeration, sampling, exact rewards, random-coloring rate, bad input."""

from __future__ import annotations

import itertools
import math

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import randgym  # noqa: F401
from randgym.envs.graph_coloring.core import ColoringDynamics, count_conflicts
from randgym.envs.graph_coloring.cycles import (
    adjacency_from_orders,
    cycle_orders,
    orders_of_sequences,
)
from randgym.envs.graph_coloring.generator import CycleGenerator, ErdosRenyiGenerator

ENV_ID = "RandAlg/GraphColoring-v0"


def graph(n: int, edges) -> np.ndarray:
    """An int8 adjacency matrix built by hand from an edge list."""
    adjacency = np.zeros((n, n), dtype=np.int8)
    for u, v in edges:
        adjacency[u, v] = adjacency[v, u] = 1
    return adjacency


def cycle_edges(order) -> list[tuple[int, int]]:
    return list(zip(order, [*order[1:], order[0]], strict=True))


def cycle_through(order) -> np.ndarray:
    """The adjacency of the cycle visiting `order` and back to its start."""
    return graph(len(order), cycle_edges(order))


def all_cycles_by_brute_force(n: int) -> set[bytes]:
    return {cycle_through(order).tobytes() for order in itertools.permutations(range(n))}


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7, 8])
def test_enumeration_is_every_cycle_once_with_index_round_trip(n):
    generator = CycleGenerator(n)
    instances = list(generator.instances())
    assert generator.num_instances == len(instances) == math.factorial(n - 1) // 2
    assert len({instance.tobytes() for instance in instances}) == len(instances)
    if n <= 7:
        assert {instance.tobytes() for instance in instances} == all_cycles_by_brute_force(n)
    for index, instance in enumerate(instances):
        assert instance.dtype == np.int8
        assert generator.index_of(generator.validate(instance)) == index


def test_all_181440_cycles_on_10_vertices_batched():
    generator = CycleGenerator(10)
    assert generator.num_instances == 181_440
    indices = np.arange(181_440)
    cycles = generator.cycles_from_indices(indices)
    assert cycles.shape == (181_440, 10, 10) and cycles.dtype == np.int8
    np.testing.assert_array_equal(generator.indices_of(cycles), indices)  # validates all too
    packed = np.packbits(cycles.reshape(len(cycles), -1), axis=1)
    assert len(np.unique(packed, axis=0)) == 181_440


def test_batched_and_single_index_functions_agree():
    generator = CycleGenerator(9)
    indices = np.random.default_rng(0).integers(generator.num_instances, size=50)
    cycles = generator.cycles_from_indices(indices)
    for index, cycle in zip(indices, cycles, strict=True):
        np.testing.assert_array_equal(generator.instance_from_index(int(index)), cycle)
        assert generator.index_of(cycle) == index


@settings(max_examples=80, deadline=None)
@given(data=st.data(), n=st.integers(3, 30))
def test_index_bijection(data, n):
    generator = CycleGenerator(n)  # n >= 22 exceeds int64 and uses Python ints
    index = data.draw(st.integers(0, generator.num_instances - 1))
    assert generator.index_of(generator.instance_from_index(index)) == index
    order = data.draw(st.permutations(range(n)))
    cycle = cycle_through(order)
    np.testing.assert_array_equal(generator.instance_from_index(generator.index_of(cycle)), cycle)


@settings(max_examples=80, deadline=None)
@given(order=st.permutations(range(8)), split=st.integers(3, 5))
def test_validate_accepts_relabelled_cycles_and_refuses_two_cycles(order, split):
    generator = CycleGenerator(8)
    cycle = cycle_through(order).astype(np.int64).tolist()
    np.testing.assert_array_equal(generator.validate(cycle), cycle_through(order))
    two_cycles = graph(8, cycle_edges(order[:split]) + cycle_edges(order[split:]))
    with pytest.raises(ValueError, match="single cycle through all 8 vertices"):
        generator.validate(two_cycles)


def test_sample_batch_gives_valid_uniform_cycles():
    generator = CycleGenerator(5)
    cycles = generator.sample_batch(np.random.default_rng(0), 120_000)
    counts = np.bincount(generator.indices_of(cycles), minlength=12)  # validates them too
    # Each count is Binomial(120000, 1/12): mean 10000, sd ~95.7; 6 sd bounds fail w.p. < 1e-8.
    assert counts.size == 12 and np.all(np.abs(counts - 10_000) < 6 * 95.7)


@pytest.mark.parametrize("n", [3, 4, 10])
def test_the_order_of_a_sequence_is_the_walk_of_its_adjacency(n):
    sequences = CycleGenerator(n).sample_sequences(np.random.default_rng(n), 500)
    rotated = np.roll(sequences, 3, axis=1)  # the same cycles from other starts, other ways
    walks, is_cycle = cycle_orders(adjacency_from_orders(sequences))
    assert is_cycle.all()
    for same in (sequences, rotated, rotated[:, ::-1]):
        np.testing.assert_array_equal(orders_of_sequences(same), walks)


@pytest.mark.parametrize("generator", [CycleGenerator(10), ErdosRenyiGenerator(7, 0.3)])
def test_sample_draws_like_sample_batch(generator):
    for seed in range(5):
        one = generator.sample(np.random.default_rng(seed))
        batch = generator.sample_batch(np.random.default_rng(seed), 1)
        np.testing.assert_array_equal(one, batch[0])
        generator.validate(one)


def test_erdos_renyi_instances_and_edge_rate():
    generator = ErdosRenyiGenerator(4, 0.5)
    instances = list(generator.instances())
    assert generator.num_instances == len(instances) == 64
    assert len({instance.tobytes() for instance in instances}) == 64
    assert all(generator.index_of(instance) == i for i, instance in enumerate(instances))
    assert ErdosRenyiGenerator(10).num_instances == 2**45
    graphs = ErdosRenyiGenerator(10, 0.3).sample_batch(np.random.default_rng(1), 20_000)
    assert (graphs == graphs.transpose(0, 2, 1)).all()
    assert not np.diagonal(graphs, axis1=1, axis2=2).any()
    # 900,000 Bernoulli(0.3) edges: sd of the rate ~4.8e-4; 6 sd bounds fail w.p. < 1e-8.
    assert abs(graphs.sum() / 2 / (20_000 * 45) - 0.3) < 6 * 4.8e-4
    complete = ErdosRenyiGenerator(5, 1.0).sample(np.random.default_rng(0))
    np.testing.assert_array_equal(complete, 1 - np.eye(5, dtype=np.int8))


C4 = cycle_through([0, 1, 2, 3])
TRIANGLE_AND_PENDANT = graph(4, [(0, 1), (1, 2), (0, 2), (2, 3)])


@pytest.mark.parametrize(
    ("adjacency", "coloring", "conflicts"),
    [
        (C4, [0, 1, 0, 1], 0),
        (C4, [0, 0, 0, 0], 4),
        (C4, [0, 0, 1, 2], 1),
        (C4, [2, 2, 1, 1], 2),
        (TRIANGLE_AND_PENDANT, [0, 1, 2, 0], 0),
        (TRIANGLE_AND_PENDANT, [0, 0, 0, 1], 3),
        (TRIANGLE_AND_PENDANT, [0, 1, 2, 2], 1),
    ],
)
def test_conflicts_and_reward_are_exact(adjacency, coloring, conflicts):
    env = gym.make(ENV_ID, n_vertices=4, family="erdos_renyi")
    env.reset(options={"instance": adjacency})
    _, reward, terminated, truncated, info = env.step(np.array(coloring))
    assert info["conflicts"] == conflicts and isinstance(info["conflicts"], int)
    assert reward == (1.0 if conflicts == 0 else 0.0)
    assert terminated and not truncated


def test_proper_3_colorings_of_c10_are_exactly_2_to_the_10_plus_2():
    colorings = np.array(list(itertools.product(range(3), repeat=10)))  # all 3**10
    cycles = np.broadcast_to(CycleGenerator(10).sample(np.random.default_rng(3)), (3**10, 10, 10))
    assert np.sum(count_conflicts(cycles, colorings) == 0) == 2**10 + 2


def test_uniformly_random_colorings_of_c10_are_proper_at_the_exact_rate():
    rng = np.random.default_rng(2024)
    generator, dynamics = CycleGenerator(10), ColoringDynamics(10)
    n, chunk, proper = 500_000, 100_000, 0
    for _ in range(n // chunk):
        state = dynamics.reset(generator.sample_batch(rng, chunk))
        proper += dynamics.step(state, rng.integers(0, 3, size=(chunk, 10))).reward.sum()
    p = (2**10 + 2) / 3**10  # ~0.017375: the chromatic polynomial of C_10 at 3, over 3**10
    sd = math.sqrt(p * (1 - p) / n)  # ~1.85e-4
    # 6 sd is a relative deviation delta ~0.064 of the mean mu = n p ~ 8688; the Chernoff bound
    # 2 exp(-delta**2 mu / (2 + delta)) ~ 4e-8 caps the chance of a false failure below 1e-6.
    assert abs(proper / n - p) < 6 * sd


def test_finished_episodes_get_no_reward_and_keep_their_coloring():
    dynamics = ColoringDynamics(4)
    state = dynamics.reset(np.stack([C4, C4]))
    first = dynamics.step(state, np.array([[0, 1, 0, 1], [0, 0, 0, 0]]))
    np.testing.assert_array_equal(first.reward, [1.0, 0.0])
    np.testing.assert_array_equal(first.info["conflicts"], [0, 4])
    second = dynamics.step(first.state, np.array([[0, 0, 0, 0], [0, 1, 0, 1]]))
    np.testing.assert_array_equal(second.reward, [0.0, 0.0])
    assert not second.terminated.any()
    np.testing.assert_array_equal(second.state.coloring, first.state.coloring)
    np.testing.assert_array_equal(second.state.conflicts, [0, 4])


def test_vector_env_rewards_match_the_core():
    envs = gym.make_vec(ENV_ID, 6, vectorization_mode="vector_entry_point")
    obs, info = envs.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 3, size=(6, 10))
    _, reward, terminated, _, step_info = envs.step(actions)
    conflicts = count_conflicts(obs["adjacency"], actions)
    np.testing.assert_array_equal(step_info["conflicts"], conflicts)
    np.testing.assert_array_equal(reward, conflicts == 0)
    assert terminated.all() and (info["instance"] == obs["adjacency"]).all()


def test_text_and_rgb_rendering():
    env = gym.make(ENV_ID, n_vertices=4, render_mode="ansi")
    env.reset(options={"instance": C4})
    text = env.render()
    assert text.splitlines()[0] == "cycle 0 1 2 3 0" and "uncolored" in text
    env.step(np.array([0, 0, 1, 2]))
    lines = env.render().splitlines()
    assert lines[1] == "vertex 0: color 0, neighbours 1 3" and lines[-1] == "conflicts 1: 0-1"
    rgb = gym.make(ENV_ID, n_vertices=4, render_mode="rgb_array")
    rgb.reset(options={"instance": C4})
    assert rgb.render().shape == (96, 96, 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_vertices": 2}, "n_vertices=2"),
        ({"n_vertices": 10.0}, "n_vertices=10.0"),
        ({"n_colors": 1}, "n_colors=1"),
        ({"family": "tree"}, "family='tree'"),
        ({"edge_prob": 0.0}, r"edge_prob=0.0 must be a probability in \(0, 1\]"),
        ({"edge_prob": 1.5, "family": "erdos_renyi"}, "edge_prob=1.5"),
        ({"edge_prob": "x"}, "edge_prob='x'"),
    ],
)
def test_bad_kwargs_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make(ENV_ID, **kwargs)


TWO_TRIANGLES = graph(6, [(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3)])
PATH = graph(6, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)])


@pytest.mark.parametrize(
    ("family", "instance", "message"),
    [
        ("cycle", np.zeros((5, 5), dtype=np.int8), r"shape \(6, 6\), got shape \(5, 5\)"),
        ("cycle", TWO_TRIANGLES.astype(float), "dtype float64"),
        ("erdos_renyi", [[0, 1], [1, 0]], r"shape \(6, 6\)"),
        ("erdos_renyi", PATH * 2, r"0 or 1, got values \[0, 2\]"),
        ("erdos_renyi", np.triu(PATH), r"symmetric, but entry \[0, 1\] is 1 and entry \[1, 0\]"),
        ("erdos_renyi", PATH + np.eye(6, dtype=np.int8), r"vertices \[0, 1, 2, 3, 4, 5\]"),
        ("cycle", PATH, r"degree 2, got degrees \[1, 2, 2, 2, 2, 1\]"),
        ("cycle", TWO_TRIANGLES, "single cycle through all 6 vertices.*length 3"),
    ],
)
def test_bad_instances_are_refused(family, instance, message):
    env = gym.make(ENV_ID, n_vertices=6, family=family)
    with pytest.raises(ValueError, match=message):
        env.reset(options={"instance": instance})


def test_erdos_renyi_accepts_graphs_that_are_not_cycles():
    env = gym.make(ENV_ID, n_vertices=6, family="erdos_renyi")
    obs, info = env.reset(options={"instance": TWO_TRIANGLES.tolist()})
    np.testing.assert_array_equal(obs["adjacency"], TWO_TRIANGLES)


def test_bad_indices_are_refused():
    generator = CycleGenerator(6)
    with pytest.raises(ValueError, match="out of range"):
        generator.instance_from_index(60)
    with pytest.raises(ValueError, match="cycle index -1 is out of range"):
        generator.cycles_from_indices([3, -1])
    with pytest.raises(ValueError, match="1-d integer array"):
        generator.cycles_from_indices([1.0])
    with pytest.raises(ValueError, match=r"\(k, 6, 6\)"):
        generator.indices_of(TWO_TRIANGLES)
    cycles = generator.cycles_from_indices([0, 1, 2])
    with pytest.raises(ValueError, match=r"batch positions \[1\] are not Hamiltonian cycles"):
        generator.indices_of(np.stack([cycles[0], TWO_TRIANGLES, cycles[2]]))
    with pytest.raises(ValueError, match="out of range"):
        ErdosRenyiGenerator(4).instance_from_index(64)
