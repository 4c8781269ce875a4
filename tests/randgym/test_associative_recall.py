"""Associative recall: instance space, sampling, query set, dynamics, validation, rendering."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import randgym
from randgym.envs.associative_recall import AssociativeRecallEnv, RecallGenerator
from randgym.envs.associative_recall.core import RecallDynamics
from tests.randgym.helpers import assert_tree_equal

VALUES = np.array([[0, 1], [1, 1], [0, 0]], dtype=np.int8)  # N = 3 keys, d = 2 bits


def recall_env(**kwargs) -> AssociativeRecallEnv:
    return gym.make("RandAlg/AssociativeRecall-v1", **kwargs).unwrapped


# --- instance space ---------------------------------------------------------------------------


@pytest.mark.parametrize(("n_pairs", "value_bits"), [(1, 1), (2, 1), (1, 3), (3, 2), (2, 4)])
def test_enumeration_is_a_bijection_onto_all_instances(n_pairs, value_bits):
    generator = RecallGenerator(n_pairs, value_bits)
    count = n_pairs * 2 ** (n_pairs * value_bits)
    assert generator.num_instances == count
    instances = list(generator.instances())
    assert len(instances) == count
    assert len({generator.key(instance) for instance in instances}) == count
    assert [generator.index_of(instance) for instance in instances] == list(range(count))
    for instance in instances[:: max(1, count // 7)]:
        assert instance["values"].dtype == np.int8 and instance["values"].shape == (
            n_pairs,
            value_bits,
        )
        assert isinstance(instance["query"], np.int64)


def test_enumeration_order_is_query_then_values_msb_first():
    generator = RecallGenerator(3, 2)
    assert generator.num_instances == 192
    first = generator.instance_from_index(1)
    np.testing.assert_array_equal(first["values"], [[0, 0], [0, 0], [0, 1]])
    assert first["query"] == 0
    last = generator.instance_from_index(191)
    np.testing.assert_array_equal(last["values"], np.ones((3, 2)))
    assert last["query"] == 2
    assert generator.index_of({"values": VALUES, "query": 1}) == 64 + 0b011100


def test_paper_sized_instance_count_is_an_exact_python_int():
    generator = recall_env().generator
    assert generator.num_instances == 15 * 2**75
    assert isinstance(generator.num_instances, int)
    last = generator.instance_from_index(15 * 2**75 - 1)
    assert last["query"] == 14 and last["values"].all()
    assert generator.index_of(last) == 15 * 2**75 - 1


@settings(max_examples=60, deadline=None)
@given(
    n_pairs=st.integers(1, 20), value_bits=st.integers(1, 6), data=st.data(), seed=st.integers(0)
)
def test_index_round_trip(n_pairs, value_bits, data, seed):
    generator = RecallGenerator(n_pairs, value_bits)
    instance = generator.sample(np.random.default_rng(seed))
    index = generator.index_of(instance)
    assert_tree_equal(generator.instance_from_index(index), instance)
    other = data.draw(st.integers(0, generator.num_instances - 1))
    assert generator.index_of(generator.instance_from_index(other)) == other


@pytest.mark.parametrize("index", [-1, 192, 2.0, "3"])
def test_bad_index_is_refused(index):
    with pytest.raises(ValueError, match="index"):
        RecallGenerator(3, 2).instance_from_index(index)


# --- sampling ---------------------------------------------------------------------------------


def test_sample_is_the_first_row_of_sample_batch_with_the_same_rng():
    generator = RecallGenerator(15, 5)
    batch = generator.sample_batch(np.random.default_rng(4), 1)
    single = generator.sample(np.random.default_rng(4))
    assert_tree_equal(single, {"values": batch["values"][0], "query": batch["query"][0]})


def test_sample_batch_shapes_and_dtypes():
    batch = RecallGenerator(7, 3).sample_batch(np.random.default_rng(0), 11)
    assert batch["values"].shape == (11, 7, 3) and batch["values"].dtype == np.int8
    assert batch["query"].shape == (11,) and batch["query"].dtype == np.int64
    assert np.isin(batch["values"], (0, 1)).all()
    assert ((batch["query"] >= 0) & (batch["query"] < 7)).all()


def assert_uniform(batch: dict, n_pairs: int) -> None:
    """Bits fair (per position) and queries uniform, within 6 sigma (false alarm < 1e-6)."""
    n = len(batch["query"])
    bit_means = batch["values"].mean(axis=0)
    assert np.abs(bit_means - 0.5).max() < 6 * 0.5 / np.sqrt(n)
    frequencies = np.bincount(batch["query"], minlength=n_pairs) / n
    p = 1 / n_pairs
    assert np.abs(frequencies - p).max() < 6 * np.sqrt(p * (1 - p) / n)


def test_sample_and_sample_batch_draw_fair_bits_and_uniform_queries():
    generator = RecallGenerator(6, 5)
    rng = np.random.default_rng(2024)
    assert_uniform(generator.sample_batch(rng, 40_000), 6)
    singles = [generator.sample(rng) for _ in range(3_000)]
    assert_uniform(
        {
            "values": np.stack([s["values"] for s in singles]),
            "query": np.array([s["query"] for s in singles]),
        },
        6,
    )


# --- query set --------------------------------------------------------------------------------


def test_query_set_covers_every_position_and_value_fillings_times():
    n_pairs, value_bits, fillings = 4, 3, 5
    batch = RecallGenerator(n_pairs, value_bits).query_set(fillings, np.random.default_rng(0))
    n = n_pairs * 2**value_bits * fillings
    assert batch["values"].shape == (n, n_pairs, value_bits) and batch["values"].dtype == np.int8
    assert batch["query"].shape == (n,) and batch["query"].dtype == np.int64
    queried = batch["values"][np.arange(n), batch["query"]]
    value_ids = queried @ (2 ** np.arange(value_bits - 1, -1, -1))
    counts = np.zeros((n_pairs, 2**value_bits), dtype=int)
    np.add.at(counts, (batch["query"], value_ids), 1)
    assert (counts == fillings).all()
    # Ordered by position, then value (binary, MSB first), then filling.
    np.testing.assert_array_equal(batch["query"], np.repeat(np.arange(n_pairs), 8 * fillings))
    np.testing.assert_array_equal(value_ids[: 8 * fillings], np.repeat(np.arange(8), fillings))
    # The other values are random fillings, not a constant.
    assert len({row.tobytes() for row in batch["values"][:fillings]}) > 1


def test_query_set_refuses_bad_fillings():
    with pytest.raises(ValueError, match="fillings"):
        RecallGenerator(3, 2).query_set(0, np.random.default_rng(0))


# --- dynamics and env -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "reward", "bits_correct"), [([1, 1], 1.0, 2), ([1, 0], 0.0, 1), ([0, 0], 0.0, 0)]
)
def test_reward_and_bits_correct_on_a_fixed_instance(action, reward, bits_correct):
    env = recall_env(n_pairs=3, value_bits=2)
    obs, info = env.reset(options={"instance": {"values": VALUES, "query": 1}})
    np.testing.assert_array_equal(obs["pair_values"], VALUES)
    np.testing.assert_array_equal(obs["query"], [0, 1, 0])
    assert obs["query"].dtype == np.int8 and obs["pair_values"].dtype == np.int8
    _, got_reward, terminated, truncated, info = env.step(np.array(action, dtype=np.int8))
    assert (got_reward, terminated, truncated) == (reward, True, False)
    assert info["bits_correct"] == bits_correct


def test_batched_step_scores_each_entry_and_ignores_finished_ones():
    dynamics = RecallDynamics(n_pairs=3, value_bits=2)
    instances = {"values": np.stack([VALUES] * 3), "query": np.array([0, 1, 2])}
    state = dynamics.reset(instances)
    actions = np.array([[0, 1], [0, 1], [1, 1]], dtype=np.int8)
    result = dynamics.step(state, actions)
    np.testing.assert_array_equal(result.reward, [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(result.info["bits_correct"], [2, 1, 0])
    assert result.info["bits_correct"].dtype == np.int64
    np.testing.assert_array_equal(result.terminated, [True, True, True])
    assert not state.done.any() and not state.answer.any()  # the input state is untouched
    again = dynamics.step(result.state, np.ones((3, 2), dtype=np.int8))
    np.testing.assert_array_equal(again.reward, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(again.terminated, [False, False, False])
    np.testing.assert_array_equal(again.info["bits_correct"], [0, 0, 0])
    np.testing.assert_array_equal(again.state.answer, actions)


def test_tuple_instance_and_bool_values_are_accepted():
    generator = RecallGenerator(3, 2)
    canonical = generator.validate((VALUES.astype(bool), np.int32(2)))
    assert_tree_equal(canonical, {"values": VALUES, "query": np.int64(2)})
    assert_tree_equal(generator.validate({"values": VALUES.tolist(), "query": 2}), canonical)


@pytest.mark.parametrize(
    ("instance", "match"),
    [
        ({"values": VALUES[:2], "query": 0}, r"(?s)values .* shape \(3, 2\)"),
        ({"values": VALUES.T, "query": 0}, r"(?s)values .* shape"),
        ({"values": [[0, 1], [1], [0, 0]], "query": 0}, r"(?s)values .* array of 0/1"),
        ({"values": VALUES * 2, "query": 0}, r"(?s)values .* only 0 and 1"),
        ({"values": VALUES - 1, "query": 0}, r"(?s)values .* only 0 and 1"),
        ({"values": VALUES.astype(float), "query": 0}, r"(?s)values .* integers 0/1.*float64"),
        ({"values": VALUES, "query": 3}, r"query 3 is out of range; expected 0 <= query < 3"),
        ({"values": VALUES, "query": -1}, r"query -1 is out of range"),
        ({"values": VALUES, "query": True}, r"query True must be an integer"),
        ({"values": VALUES, "query": 1.0}, r"query 1.0 must be an integer"),
        ({"values": VALUES, "query": np.array([1])}, r"query .* must be an integer"),
        ({"values": VALUES}, r"missing \['query'\]"),
        ({"query": 1}, r"missing \['values'\]"),
        ({"values": VALUES, "query": 1, "seed": 0}, r"unknown \['seed'\]"),
        ((VALUES, 1, 2), r"must be a dict .* or a tuple \(values, query\)"),
        (VALUES, r"must be a dict"),
    ],
)
def test_bad_instances_are_refused_with_a_message_naming_them(instance, match):
    env = recall_env(n_pairs=3, value_bits=2)
    with pytest.raises(ValueError, match=match):
        env.generator.validate(instance)
    with pytest.raises(ValueError, match=match):
        env.reset(options={"instance": instance})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_pairs": 0}, r"n_pairs=0 must be an integer in \[1, 1024\]"),
        ({"n_pairs": 2.5}, "n_pairs=2.5"),
        ({"value_bits": 0}, r"value_bits=0 must be an integer in \[1, 30\]"),
        ({"value_bits": True}, "value_bits=True"),
    ],
)
def test_bad_kwargs_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AssociativeRecallEnv(**kwargs)


def test_spaces_follow_the_kwargs():
    env = recall_env(n_pairs=8, value_bits=3)
    assert env.action_space == gym.spaces.MultiBinary(3)
    assert env.observation_space["pair_values"] == gym.spaces.MultiBinary((8, 3))
    assert env.observation_space["query"] == gym.spaces.MultiBinary(8)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)


def test_observation_keys_do_not_clash_with_torch_module_dict_attributes():
    # SB3's MultiInputPolicy builds an nn.ModuleDict keyed by the observation keys.
    for env_id in randgym.ENV_IDS:
        keys = gym.make(env_id).observation_space.keys()
        assert not [key for key in keys if hasattr(torch.nn.ModuleDict(), key)], env_id


@pytest.mark.parametrize("make", [gym.make, lambda env_id: gym.make_vec(env_id, num_envs=2)])
def test_v0_is_deprecated_but_still_observes_values(make):
    with pytest.deprecated_call(match=r"AssociativeRecall-v0 is out of date.*`v1`"):
        env = make("RandAlg/AssociativeRecall-v0")
    obs, info = env.reset(seed=0)
    assert set(obs) == {"values", "query"}
    assert set(env.observation_space.keys()) == {"values", "query"}
    np.testing.assert_array_equal(obs["values"], info["instance"]["values"])


def test_v1_observes_the_same_values_as_v0_under_another_key():
    with pytest.deprecated_call():
        old = gym.make("RandAlg/AssociativeRecall-v0")
    new = gym.make("RandAlg/AssociativeRecall-v1")
    old_obs, _ = old.reset(seed=3)
    new_obs, _ = new.reset(seed=3)
    np.testing.assert_array_equal(old_obs["values"], new_obs["pair_values"])
    np.testing.assert_array_equal(old_obs["query"], new_obs["query"])


def test_text_render_shows_values_query_and_answer():
    env = recall_env(n_pairs=3, value_bits=2, render_mode="ansi")
    env.reset(options={"instance": {"values": VALUES, "query": 1}})
    before = env.render()
    assert "  1  11  <- query" in before and "  0  01\n" in before and "no answer yet" in before
    env.step(np.array([1, 0], dtype=np.int8))
    assert "answer 10: 1/2 bits right, wrong" in env.render()


def test_rgb_render_marks_query_bits_and_verdict():
    env = recall_env(n_pairs=3, value_bits=2, render_mode="rgb_array")
    env.reset(options={"instance": {"values": VALUES, "query": 1}})
    cell = 24

    def color(row: int, col: int) -> tuple:
        return tuple(env.render()[row * cell + cell // 2, col * cell + cell // 2])

    assert env.render().shape == (4 * cell, 3 * cell, 3)
    assert color(1, 0) == (240, 190, 40)  # the queried key
    assert color(0, 1) == (255, 255, 255) and color(0, 2) == (30, 30, 30)  # value 01
    env.step(np.array([1, 1], dtype=np.int8))
    assert color(3, 0) == (0, 160, 135) and color(3, 1) == (30, 30, 30)  # right answer 11
