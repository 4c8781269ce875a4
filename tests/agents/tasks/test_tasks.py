from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from agents.models.transformer import SeededTransformer, TransformerConfig, in_cycle_order
from agents.tasks import ColoringTask, RecallTask, make_task

RNG_SEED = 7


def model_for(task, dtype=torch.float64, **overrides) -> SeededTransformer:
    config = task.model_config(**overrides)
    return SeededTransformer(config, torch.Generator().manual_seed(0)).to(dtype)


def seeds(model, n, task):
    return model.sample_policy_seed(n, torch.Generator().manual_seed(1), task.policy_seed_length)


# --- recall -----------------------------------------------------------------------------------


def test_recall_tokens_are_key_and_value_then_the_query_key():
    task = RecallTask(n_pairs=3, value_bits=2)
    values = np.array([[[0, 1], [1, 1], [1, 0]]], dtype=np.int8)
    batch = task.batch({"values": values, "query": np.array([1])})
    expected = [
        [1, 0, 0, 0, 1],
        [0, 1, 0, 1, 1],
        [0, 0, 1, 1, 0],
        [0, 1, 0, 0, 0],  # the query: key 1, empty value slot
    ]
    assert task.tokens(batch)[0].tolist() == expected
    assert batch["bits"].tolist() == [[1.0, 1.0]]
    assert task.vocab.shape == (3 * 4 + 3, 5)


def test_recall_sample_uses_the_env_generator_batch_sampler():
    task = RecallTask(n_pairs=6)
    batch = task.sample(np.random.default_rng(RNG_SEED), 5)
    instances = task.generator.sample_batch(np.random.default_rng(RNG_SEED), 5)
    assert torch.equal(batch["ids"], task.batch(instances)["ids"])
    assert batch["ids"].shape == (5, 7) and batch["bits"].shape == (5, 5)


def test_recall_evaluation_set_is_every_position_value_and_filling():
    task = RecallTask(n_pairs=4)
    batch = task.evaluation_set(np.random.default_rng(0))
    assert batch["ids"].shape == (4 * 32 * 16, 5)
    quick = task.evaluation_set(np.random.default_rng(0), quick=True)
    assert quick["ids"].shape == (4 * 32 * 2, 5)
    query = batch["ids"][:, -1] - 4 * 32
    value = batch["bits"].long() @ torch.tensor([16, 8, 4, 2, 1])
    pairs = set(zip(query.tolist(), value.tolist(), strict=True))
    assert len(pairs) == 4 * 32


@pytest.mark.parametrize(
    "overrides",
    [
        {},  # the recall preset: the fast factorised path
        {"n_heads": 2, "n_layers": 3, "key_size": 3},  # fast path, more heads and layers
        {"mlp": True, "layer_norm": True},  # no factorisation: the plain forward
    ],
)
def test_recall_logits_equal_the_full_forward_at_the_last_position(overrides):
    task = RecallTask(n_pairs=5)
    model = model_for(task, **overrides)
    assert model.factorises == (not overrides.get("mlp", False))
    batch = task.sample(np.random.default_rng(0), 6)
    policy_seed = seeds(model, 4, task)
    logits = task.logits(model, batch, policy_seed)
    full = model(task.tokens(batch).double(), policy_seed)[:, :, -1]
    assert logits.shape == (6, 4, 5)
    torch.testing.assert_close(logits, full, rtol=1e-9, atol=1e-9)


def test_fast_recall_gradients_equal_the_full_forward_gradients():
    task = RecallTask(n_pairs=4)
    model = model_for(task)
    batch = task.sample(np.random.default_rng(0), 3)
    policy_seed = seeds(model, 2, task)
    grads = []
    for logits in (
        lambda: task.logits(model, batch, policy_seed),
        lambda: model(task.tokens(batch).double(), policy_seed)[:, :, -1],
    ):
        model.zero_grad()
        task.loss(logits(), batch).sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for fast, full in zip(*grads, strict=True):
        torch.testing.assert_close(fast, full, rtol=1e-9, atol=1e-12)


def test_forward_last_validates_ids_and_vocab():
    task = RecallTask(n_pairs=3)
    model = model_for(task)
    policy_seed = seeds(model, 2, task)
    with pytest.raises(ValueError, match="lie in"):
        model.forward_last(torch.tensor([[0, 99]]), task.vocab.double(), policy_seed)
    with pytest.raises(ValueError, match="int64"):
        model.forward_last(torch.zeros(1, 2), task.vocab.double(), policy_seed)
    with pytest.raises(ValueError, match="vocab"):
        model.forward_last(torch.zeros(1, 2, dtype=torch.long), torch.zeros(4, 3), policy_seed)


def test_recall_success_loss_vote_and_sampled_on_hand_made_logits():
    task = RecallTask(n_pairs=3, value_bits=3)
    batch = {"bits": torch.tensor([[1.0, 0.0, 1.0]])}
    logits = torch.tensor([[[2.0, -1.0, 3.0], [2.0, 1.0, 3.0], [-2.0, -1.0, 3.0]]])  # (1, 3, 3)
    assert task.correct(task.predict(logits), batch).tolist() == [[True, False, False]]
    # per-bit majority: every bit is right in 2 of the 3 seeds
    vote = task.vote(task.predict(logits), dim=1)
    assert vote.shape == (1, 1, 3) and task.correct(vote, batch).tolist() == [[True]]
    sig = torch.sigmoid
    expected = sig(torch.tensor(2.0)) * sig(torch.tensor(1.0)) * sig(torch.tensor(3.0))
    torch.testing.assert_close(task.sampled_success(logits, batch)[0, 0], expected)
    assert task.loss(logits, batch).shape == (1, 3)


# --- coloring ---------------------------------------------------------------------------------


def cycle(order: list[int]) -> np.ndarray:
    n = len(order)
    adjacency = np.zeros((n, n), dtype=np.int8)
    for a, b in zip(order, order[1:] + order[:1], strict=True):
        adjacency[a, b] = adjacency[b, a] = 1
    return adjacency


def test_coloring_tokens_mask_and_shapes():
    task = ColoringTask(n_vertices=6)
    batch = task.sample(np.random.default_rng(0), 4)
    assert batch["adjacency"].dtype == torch.bool and batch["adjacency"].shape == (4, 6, 6)
    assert (batch["adjacency"].sum(-1) == 2).all()
    assert torch.equal(task.tokens(batch)[2], torch.eye(6))
    model = model_for(task)
    logits = task.logits(model, batch, seeds(model, 3, task))
    assert logits.shape == (4, 3, 6, 3)
    assert task.loss(logits, batch).shape == (4, 3)
    # in cycle order: position p holds vertex order[b, p] of the masked forward by vertex
    by_vertex = model(task.tokens(batch).double(), seeds(model, 3, task), mask=batch["adjacency"])
    torch.testing.assert_close(logits, in_cycle_order(by_vertex, batch["order"]))
    # the compiled trainer's path (forward_cycle) gives the same logits
    torch.testing.assert_close(task.cycle_logits(model, batch, seeds(model, 3, task)), logits)


@pytest.mark.parametrize("neighbour", [False, True])
def test_a_vertex_sees_only_its_neighbours_after_one_layer(neighbour):
    task = ColoringTask(n_vertices=6)
    model = model_for(task, n_layers=1)
    batch = task.batch(cycle([0, 1, 2, 3, 4, 5])[None])
    policy_seed = seeds(model, 2, task)
    tokens = task.tokens(batch).double().clone()
    changed = tokens.clone()
    changed[0, 1 if neighbour else 3] += torch.tensor([0.5, -1.0, 2.0, 0.0, 1.0, -0.5]).double()
    before = model(tokens, policy_seed, mask=batch["adjacency"])[0, :, 0]  # vertex 0's logits
    after = model(changed, policy_seed, mask=batch["adjacency"])[0, :, 0]
    assert torch.allclose(before, after) != neighbour


def test_coloring_correct_and_whole_coloring_vote():
    task = ColoringTask(n_vertices=4)
    batch = task.batch(cycle([0, 1, 2, 3])[None])
    colorings = torch.tensor([[[0, 1, 0, 1], [0, 1, 2, 1], [0, 0, 1, 2], [1, 2, 1, 2]]])
    assert task.correct(colorings, batch).tolist() == [[True, True, False, True]]
    voters = torch.tensor([[[0, 0, 1, 2], [0, 1, 0, 1], [0, 0, 1, 2]]])  # the mode is invalid
    vote = task.vote(voters, dim=1)
    assert vote.tolist() == [[[0, 0, 1, 2]]]
    assert task.correct(vote, batch).tolist() == [[False]]


def test_coloring_sampled_success_equals_brute_force_enumeration():
    task = ColoringTask(n_vertices=5)
    batch = task.batch(np.stack([cycle([0, 2, 4, 1, 3]), cycle([0, 1, 2, 3, 4])]))
    logits = torch.randn(2, 3, 5, 3, generator=torch.Generator().manual_seed(0)).double()
    probs = logits.softmax(-1)
    expected = torch.zeros(2, 3, dtype=torch.float64)
    for colors in itertools.product(range(3), repeat=5):
        colors_t = torch.tensor(colors)
        ok = task.correct(colors_t.expand(2, 1, 5), batch)[:, 0]  # (2,)
        p = probs[:, :, torch.arange(5), colors_t].prod(-1)  # (2, 3)
        expected += p * ok[:, None]
    torch.testing.assert_close(task.sampled_success(logits, batch), expected)


def test_coloring_sample_is_the_batch_of_the_generator_batch_sampler():
    task = ColoringTask(8)
    batch = task.sample(np.random.default_rng(RNG_SEED), 300)
    expected = task.batch(task.generator.sample_batch(np.random.default_rng(RNG_SEED), 300))
    assert batch.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(batch[key], value)


def test_coloring_evaluation_set_is_every_cycle_once():
    task = ColoringTask(n_vertices=6)
    batch = task.evaluation_set(np.random.default_rng(0))
    assert batch["adjacency"].shape == (60, 6, 6)
    indices = task.generator.indices_of(batch["adjacency"].numpy().astype(np.int8))
    assert sorted(indices.tolist()) == list(range(60))


def test_make_task_builds_from_a_spec_and_rejects_unknown_names():
    assert make_task(**RecallTask(7).spec).n_pairs == 7
    assert make_task(**ColoringTask(8).spec).n_vertices == 8
    with pytest.raises(ValueError, match="'maze'"):
        make_task("maze")
    assert isinstance(RecallTask(5).model_config(), TransformerConfig)
