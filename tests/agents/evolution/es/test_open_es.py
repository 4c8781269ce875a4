from __future__ import annotations

import pytest
import torch

from agents.evolution.es import OpenES, OpenESConfig
from tests.agents.evolution.es.test_base import sphere


def test_gradient_is_pgpe_direction_over_sigma_squared_and_sigma_stays():
    es = OpenES(torch.tensor([1.0, -1.0]), OpenESConfig(popsize=4, sigma_init=0.5), seed=0)
    candidates = es.ask()
    eps = candidates[:2] - es.center
    es.tell(torch.tensor([3.0, 0.0, 1.0, 2.0]))  # ranks: r+ = [1/2, -1/2], r- = [-1/6, 1/6]
    # g = 1/2 sum_i z_i (r+_i - r-_i) / (2 sigma) with z = eps / sigma, r+ - r- = [2/3, -2/3]
    #   = (eps_1 - eps_2) / 6 / sigma^2
    g = (eps[0] - eps[1]) / 6 / 0.25
    assert es.state.adam.m.tolist() == pytest.approx((0.1 * g).tolist(), rel=1e-5)
    assert torch.equal(es.sigma, torch.full((2,), 0.5))


def test_solves_a_sphere():
    target = torch.linspace(-1, 1, 10)
    es = OpenES(torch.zeros(10), OpenESConfig(popsize=32, center_lr=0.03, sigma_init=0.05), seed=0)
    for _ in range(250):
        candidates = es.ask()
        es.tell(sphere(candidates, target))
    assert (es.center - target).norm().item() < 0.05


def test_odd_popsize_raises():
    with pytest.raises(ValueError, match="popsize=7 .*even"):
        OpenESConfig(popsize=7)
