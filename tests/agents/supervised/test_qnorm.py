from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from agents.supervised.qnorm import q_norm

LOSSES = torch.tensor([[1.0, 3.0], [2.0, 2.0], [0.0, 0.0]], dtype=torch.float64)  # means 2, 2, 0

loss_arrays = arrays(
    "float64",
    st.tuples(st.integers(1, 6), st.integers(1, 4)),
    elements=st.floats(0, 100, allow_nan=False),
)


# --- q_norm -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (1, 4 / 3),
        (2, math.sqrt(8 / 3)),
        (3, (16 / 3) ** (1 / 3)),
        (100, 2 * (2 / 3) ** (1 / 100)),
        (math.inf, 2.0),
    ],
)
def test_q_norm_hand_computed_values(q, expected):
    assert q_norm(LOSSES, q).item() == pytest.approx(expected, rel=1e-12)


def test_q_norm_limits_are_mean_and_max():
    losses = torch.rand(7, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    per_input = losses.mean(dim=1)
    assert q_norm(losses, 1).item() == pytest.approx(per_input.mean().item(), rel=1e-12)
    assert q_norm(losses, math.inf).item() == pytest.approx(per_input.max().item(), rel=1e-12)
    assert q_norm(losses, 1e6).item() == pytest.approx(per_input.max().item(), rel=1e-5)


@pytest.mark.parametrize("q", [0.5, 0.0, -1.0, float("nan")])
def test_q_norm_rejects_q_below_one(q):
    with pytest.raises(ValueError, match="q="):
        q_norm(LOSSES, q)


def test_q_norm_rejects_non_matrix_losses():
    with pytest.raises(ValueError, match=r"\(n, m\)"):
        q_norm(torch.ones(3), 2)


@settings(max_examples=50, deadline=None)
@given(loss_arrays)
def test_q_norm_is_non_decreasing_in_q(array):
    losses = torch.from_numpy(array)
    values = [q_norm(losses, q).item() for q in (1, 1.5, 2, 4, 16, 100, 1000, math.inf)]
    for low, high in zip(values, values[1:], strict=False):
        assert low <= high * (1 + 1e-9) + 1e-12


@settings(max_examples=50, deadline=None)
@given(loss_arrays, st.randoms(use_true_random=False))
def test_q_norm_is_invariant_to_permuting_inputs_and_seeds(array, rng):
    losses = torch.from_numpy(array)
    rows, cols = list(range(losses.shape[0])), list(range(losses.shape[1]))
    rng.shuffle(rows)
    rng.shuffle(cols)
    for q in (1, 3, 100, math.inf):
        permuted = q_norm(losses[rows][:, cols], q).item()
        assert permuted == pytest.approx(q_norm(losses, q).item(), rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("q", [100, 1000])
def test_q_norm_is_stable_with_losses_of_very_different_size(q):
    per_input = torch.tensor([1e-6, 1e-3, 1.0, 50.0, 300.0], dtype=torch.float32)
    losses = per_input[:, None].repeat(1, 3).requires_grad_()
    value = q_norm(losses, q)
    # reference in float64 via logsumexp: exp((logsumexp(q log l) - log n) / q)
    log_l = per_input.double().log()
    reference = torch.exp((torch.logsumexp(q * log_l, 0) - math.log(5)) / q)
    assert value.item() == pytest.approx(reference.item(), rel=1e-5)
    value.backward()
    assert torch.isfinite(losses.grad).all()
    assert losses.grad[-1].sum().item() == pytest.approx(1.0, abs=0.02)  # the max dominates


@pytest.mark.parametrize("q", [1, 2, 100, 1000, math.inf])
def test_q_norm_of_zero_losses_is_zero_with_finite_gradients(q):
    losses = torch.zeros(4, 3, requires_grad=True)
    value = q_norm(losses, q)
    value.backward()
    assert value.item() == 0.0
    assert torch.isfinite(losses.grad).all()


@pytest.mark.parametrize("q", [100, 1000])
def test_q_norm_gradient_matches_the_plain_formula(q):
    losses = torch.tensor([[0.5, 0.7], [0.6, 0.2], [0.9, 0.8]], dtype=torch.float64)
    losses.requires_grad_()
    q_norm(losses, q).backward()
    plain = losses.detach().clone().requires_grad_()
    plain.mean(dim=1).pow(q).mean().pow(1 / q).backward()
    torch.testing.assert_close(losses.grad, plain.grad)
