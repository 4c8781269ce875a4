from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.tasks import make_task
from agents.tasks.coloring.similarity import similar as similar_presentations
from agents.tasks.coloring.similarity import similar_views as coloring_views
from agents.tasks.recall.similarity import redraw_unqueried
from agents.tasks.recall.similarity import similar as similar_recall
from agents.tasks.recall.similarity import similar_views as recall_views


@pytest.fixture(scope="module")
def cycles():
    return make_task("coloring", n_vertices=7).sample(np.random.default_rng(0), 6)


def test_the_same_cycle_reordered_is_similar(cycles):
    views = coloring_views(cycles, np.random.default_rng(1))
    assert not torch.equal(views.order, torch.arange(7))
    assert torch.equal(views.partner_tokens[0], torch.eye(7)[views.order])  # e_order[i] at i
    for adjacency, partner in zip(cycles["adjacency"], views.partner_mask, strict=True):
        assert similar_presentations(torch.arange(7), adjacency, views.order, partner)
        assert not torch.equal(adjacency, partner)  # another presentation


def test_ids_changed_order_preservingly_are_similar_and_otherwise_not(cycles):
    adjacency, ids = cycles["adjacency"][0], torch.arange(7)
    spread = torch.tensor([0, 3, 4, 8, 11, 12, 20])  # increasing: order-preserving
    assert similar_presentations(ids, adjacency, spread, adjacency)
    swapped = spread[[1, 0, 2, 3, 4, 5, 6]]  # two ids exchanged: another labelled cycle
    assert not similar_presentations(ids, adjacency, swapped, adjacency)


def test_a_different_cycle_is_not_similar(cycles):
    ids, first = torch.arange(7), cycles["adjacency"][0]
    others = [a for a in cycles["adjacency"][1:] if not torch.equal(a, first)]
    assert others
    for other in others:
        assert not similar_presentations(ids, first, ids, other)


def test_recall_partners_differ_only_in_unqueried_values():
    task = make_task("recall", n_pairs=6, value_bits=3)
    batch = task.sample(np.random.default_rng(0), 64)
    views = recall_views(batch, np.random.default_rng(1), task.vocab, 6, 3)
    ids, partner_ids = batch["ids"], redraw_unqueried(batch["ids"], 6, 3, np.random.default_rng(1))
    assert torch.equal(views.partner_tokens, task.vocab[partner_ids])
    assert similar_recall(ids, partner_ids, 6, 3).all()
    assert (partner_ids != ids).any(dim=1).float().mean() > 0.9  # unqueried values redrawn
    assert torch.equal(views.compared, torch.tensor([6]))  # the query position


def test_recall_with_another_queried_value_or_query_is_not_similar():
    ids = torch.tensor([[0 * 8 + 5, 1 * 8 + 2, 2 * 8 + 7, 3 * 8 + 1]])  # N = 3, d = 3, query 1
    assert similar_recall(ids, torch.tensor([[0 * 8 + 4, 1 * 8 + 2, 2 * 8 + 0, 3 * 8 + 1]]), 3, 3)
    assert not similar_recall(
        ids, torch.tensor([[0 * 8 + 5, 1 * 8 + 3, 2 * 8 + 7, 3 * 8 + 1]]), 3, 3
    )
    assert not similar_recall(
        ids, torch.tensor([[0 * 8 + 5, 1 * 8 + 2, 2 * 8 + 7, 3 * 8 + 2]]), 3, 3
    )
