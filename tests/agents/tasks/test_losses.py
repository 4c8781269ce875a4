from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from agents.models.transformer import in_cycle_order
from agents.tasks.coloring.task import coloring_loss, cycle_coloring_loss
from agents.tasks.recall.task import recall_loss
from randgym.envs.graph_coloring import adjacency_from_orders

# --- recall_loss ------------------------------------------------------------------------------


def test_recall_loss_is_bce_summed_over_bits_and_broadcasts():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 3, 5, generator=generator)
    bits = torch.randint(0, 2, (4, 1, 5), generator=generator)
    loss = recall_loss(logits, bits)
    assert loss.shape == (4, 3)
    expected = F.binary_cross_entropy_with_logits(
        logits, bits.float().expand(4, 3, 5), reduction="none"
    ).sum(-1)
    torch.testing.assert_close(loss, expected)
    assert recall_loss(torch.tensor([20.0, -20.0]), torch.tensor([1, 0])).item() < 1e-8
    with pytest.raises(ValueError, match="bit dim"):
        recall_loss(logits, bits[..., :4])


# --- coloring_loss ----------------------------------------------------------------------------

TRIANGLE = torch.tensor([[0, 1, 1], [1, 0, 1], [1, 1, 0]])
SQUARE = torch.tensor([[0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0]])  # 4-cycle


def confident(colors: list[int]) -> torch.Tensor:
    return 30.0 * F.one_hot(torch.tensor(colors), 3).float()  # (N, 3) one-hot-ish logits


@pytest.mark.parametrize(
    ("adjacency", "proper", "n_edges"),
    [(TRIANGLE, [0, 1, 2], 3), (SQUARE, [0, 1, 0, 1], 4), (SQUARE, [2, 0, 1, 0], 4)],
)
def test_coloring_loss_is_zero_for_a_proper_coloring_and_edges_for_one_color(
    adjacency, proper, n_edges
):
    assert coloring_loss(confident(proper), adjacency).item() == pytest.approx(0.0, abs=1e-6)
    same = confident([1] * len(proper))
    assert coloring_loss(same, adjacency).item() == pytest.approx(n_edges, rel=1e-6)
    uniform = torch.zeros(len(proper), 3)  # P(same color) = 1/3 per edge
    assert coloring_loss(uniform, adjacency).item() == pytest.approx(n_edges / 3, rel=1e-6)


def test_coloring_loss_counts_each_undirected_edge_once_in_any_orientation():
    logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    directed = torch.triu(SQUARE)  # each edge in one orientation only
    torch.testing.assert_close(coloring_loss(logits, directed), coloring_loss(logits, SQUARE))
    with_loops = SQUARE + torch.eye(4, dtype=SQUARE.dtype)
    torch.testing.assert_close(coloring_loss(logits, with_loops), coloring_loss(logits, SQUARE))
    torch.testing.assert_close(coloring_loss(logits, SQUARE.bool()), coloring_loss(logits, SQUARE))


def test_coloring_loss_broadcasts_graphs_over_seeds():
    logits = torch.randn(2, 5, 4, 3, generator=torch.Generator().manual_seed(0))  # (B, S, N, C)
    graphs = torch.stack([SQUARE, torch.zeros(4, 4, dtype=SQUARE.dtype)])  # (B, N, N)
    loss = coloring_loss(logits, graphs[:, None])  # adjacency (B, 1, N, N)
    assert loss.shape == (2, 5)
    assert (loss[1] == 0).all()
    torch.testing.assert_close(loss[0, 3], coloring_loss(logits[0, 3], SQUARE))
    assert coloring_loss(logits, SQUARE).shape == (2, 5)  # one graph for all
    with pytest.raises(ValueError, match="adjacency"):
        coloring_loss(logits, TRIANGLE)


def test_cycle_coloring_loss_is_coloring_loss_of_the_cycles_adjacency():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, 6, 3, generator=generator)  # (B, S, N, C)
    order = torch.stack([torch.randperm(6, generator=generator) for _ in range(3)])
    adjacency = torch.from_numpy(adjacency_from_orders(order.numpy()))  # (B, N, N) 0/1
    loss = cycle_coloring_loss(in_cycle_order(logits, order))
    assert loss.shape == (3, 4)
    torch.testing.assert_close(loss, coloring_loss(logits, adjacency[:, None]))
