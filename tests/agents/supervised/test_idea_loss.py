from __future__ import annotations

import math

import pytest
import torch

from agents.supervised.idea_loss import idea_loss, idea_scores


def test_zero_gradient_when_all_ideas_are_equal():
    idea = torch.tensor([0.3, -1.2, 0.7], dtype=torch.float64)
    ideas = idea.expand(2, 5, 3, 3).clone().requires_grad_()  # (seeds, n, T, D)
    partners = idea.expand(2, 5, 3, 3).clone().requires_grad_()
    loss = idea_loss(ideas, partners, temperature=0.2)
    loss.backward()
    assert loss.item() == pytest.approx(math.log(5))  # every pair scores alike
    assert ideas.grad.abs().max() < 1e-12 and partners.grad.abs().max() < 1e-12


def test_a_tiny_batch_by_hand():
    # two inputs, two rounds, 2-d ideas, temperature 0.5
    ideas = torch.tensor([[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [1.0, 0.0]]])  # (n, T, D)
    partners = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0], [1.0, 0.0]]])
    # s_ij = sum_t cos(M_t^i, M_t^j') / 0.5: s11 = 2 + 0, s12 = 2/sqrt2 + 2, s21 = 0 + 0,
    # s22 = 2/sqrt2 + 2
    root2 = math.sqrt(2)
    expected_scores = torch.tensor([[2.0, root2 + 2], [0.0, root2 + 2]])
    torch.testing.assert_close(idea_scores(ideas, partners, 0.5), expected_scores)
    first = -math.log(math.exp(2) / (math.exp(2) + math.exp(root2 + 2)))
    second = -math.log(math.exp(root2 + 2) / (math.exp(0) + math.exp(root2 + 2)))
    assert idea_loss(ideas, partners, 0.5).item() == pytest.approx((first + second) / 2, rel=1e-6)


def test_leading_dims_are_averaged_and_a_generic_batch_has_gradients():
    a, b = torch.randn(3, 4, 2, 5), torch.randn(3, 4, 2, 5, requires_grad=True)
    each = torch.stack([idea_loss(a[i], b[i]) for i in range(3)])
    torch.testing.assert_close(idea_loss(a, b), each.mean())
    idea_loss(a, b).backward()
    assert b.grad.abs().max() > 1e-3


@pytest.mark.parametrize(
    ("shapes", "temperature", "message"),
    [(((2, 3, 4), (2, 3, 5)), 0.1, "same shape"), (((3, 4), (3, 4)), 0.1, "same shape"),
     (((2, 3, 4), (2, 3, 4)), 0.0, "temperature=0.0")],
)  # fmt: skip
def test_invalid_arguments_are_refused(shapes, temperature, message):
    with pytest.raises(ValueError, match=message):
        idea_loss(torch.ones(shapes[0]), torch.ones(shapes[1]), temperature)
