from __future__ import annotations

import math

import pytest
import torch

from agents.evolution.es import PEPG, PEPGConfig
from tests.agents.evolution.es.test_base import sphere

# two mirrored pairs in 2-D: eps = sigma * Z with sigma = 0.5
Z = torch.tensor([[1.0, -2.0], [0.5, 0.0]])


class FixedNoisePEPG(PEPG):
    """PEPG whose standard normal draws are always ``Z``."""

    def _randn(self, *shape, dtype=torch.float32):
        assert shape == tuple(Z.shape)
        return Z.clone().to(dtype)


def one_hand_computed_step(**config):
    es = FixedNoisePEPG(
        torch.tensor([1.0, -1.0]),
        PEPGConfig(popsize=4, center_lr=0.1, sigma_init=0.5, **config),
        seed=0,
    )
    candidates = es.ask()
    # eps = [[0.5, -1], [0.25, 0]]; rows: center + eps_1, center + eps_2, center - eps_1, ...
    expected = torch.tensor([[1.5, -2.0], [1.25, -1.0], [0.5, 0.0], [0.75, -1.0]])
    assert torch.equal(candidates, expected)
    es.tell(torch.tensor([3.0, 0.0, 1.0, 2.0]))
    return es


@pytest.mark.parametrize(
    ("std_lr", "sigma_max", "expected_sigma"),
    [
        (0.5, math.inf, [0.515625, 0.5 + 1 / 12]),  # no clipping
        (1.0, math.inf, [0.53125, 0.6]),  # second coordinate: +1/6 clipped to +20 % of 0.5
        (2.0, 0.58, [0.5625, 0.58]),  # both coordinates clipped to sigma_max
        (0.0, math.inf, [0.5, 0.5]),  # std_lr = 0 keeps sigma
    ],
)
def test_one_update_against_hand_computed_values(std_lr, sigma_max, expected_sigma):
    # Fitness [3, 0, 1, 2] -> centered ranks [1/2, -1/2, -1/6, 1/6]:
    #   r+ = [1/2, -1/2], r- = [-1/6, 1/6], baseline b = 0.
    # g_center = 1/2 * sum_i eps_i (r+_i - r-_i) / 2
    #          = 1/2 * ([0.5, -1] * 1/3 + [0.25, 0] * -1/3) = [1/24, -1/6]
    # Adam's first step is lr * g / (|g| + 1e-8): center = [1 + 0.1, -1 - 0.1] up to 1e-8 / |g|.
    # S_i = (eps_i^2 - sigma^2) / sigma: S_1 = [0, 1.5], S_2 = [-0.375, -0.5]
    # g_sigma = 1/2 * ((r+_1 + r-_1)/2 * S_1 + (r+_2 + r-_2)/2 * S_2)
    #         = 1/2 * (1/6 * [0, 1.5] - 1/6 * [-0.375, -0.5]) = [1/32, 1/6]
    # sigma = clip(0.5 + clip(std_lr * g_sigma, +-0.1), sigma_min, sigma_max)
    es = one_hand_computed_step(std_lr=std_lr, sigma_max=sigma_max)
    g = [1 / 24, -1 / 6]
    expected_center = [1 + 0.1 * g[0] / (g[0] + 1e-8), -1 + 0.1 * g[1] / (-g[1] + 1e-8)]
    assert es.center.tolist() == pytest.approx(expected_center, abs=1e-7)
    assert es.state.adam.m.tolist() == pytest.approx([0.1 * g[0], 0.1 * g[1]], abs=1e-8)
    assert es.sigma.tolist() == pytest.approx(expected_sigma, abs=1e-6)
    assert es.best_fitness == 3.0
    assert es.best_params.tolist() == [1.5, -2.0]


def test_weight_decay_shrinks_the_center_before_the_adam_step():
    es = one_hand_computed_step(std_lr=0.0, weight_decay=0.5)
    # center * (1 - 0.1 * 0.5) = [0.95, -0.95], then +- 0.1
    assert es.center.tolist() == pytest.approx([1.05, -1.05], abs=1e-6)


def test_sigma_never_falls_below_sigma_min():
    es = FixedNoisePEPG(
        torch.zeros(2), PEPGConfig(popsize=4, sigma_init=0.5, sigma_min=0.45, std_lr=10), seed=0
    )
    es.ask()
    # ranks [-1/2, 1/2, 1/6, -1/6]: g_sigma = -[1/32, 1/6], 10 g_sigma clipped to -0.1: 0.4
    es.tell(torch.tensor([0.0, 3.0, 2.0, 1.0]))
    assert es.sigma.tolist() == pytest.approx([0.45, 0.45])


def test_candidates_are_mirrored_pairs():
    es = PEPG(torch.arange(5.0), PEPGConfig(popsize=6, sigma_init=0.1), seed=0)
    candidates = es.ask()
    assert torch.allclose(candidates[:3] + candidates[3:], 2 * torch.arange(5.0), atol=1e-6)
    assert not torch.equal(candidates[0], candidates[1])


def test_solves_a_sphere():
    target = torch.linspace(-1, 1, 10)
    config = PEPGConfig(popsize=32, center_lr=0.05, sigma_init=0.3, std_lr=0.1)
    es = PEPG(torch.zeros(10), config, seed=0)
    for _ in range(250):
        candidates = es.ask()
        es.tell(sphere(candidates, target))
    assert (es.center - target).norm().item() < 0.02
    assert es.sigma.max().item() < 0.1  # sigma adapted down from 0.3


def test_paper_preset():
    config = PEPGConfig.paper()
    assert (config.popsize, config.center_lr, config.std_lr, config.sigma_init) == (
        300,
        0.01,
        0.01,
        0.03,
    )
    es = PEPG(torch.zeros(7), config, seed=0)
    assert es.ask().shape == (300, 7)
    assert torch.equal(es.sigma, torch.full((7,), 0.03))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"popsize": 5}, "popsize=5 .*even"),
        ({"popsize": 0}, "popsize=0"),
        ({"popsize": 4.0}, "popsize=4.0"),
        ({"sigma_init": 0.0}, "sigma_init=0.0"),
        ({"sigma_init": -0.1}, "sigma_init=-0.1"),
        ({"sigma_init": math.nan}, "sigma_init=nan"),
        ({"center_lr": 0.0}, "center_lr=0.0"),
        ({"std_lr": -0.1}, "std_lr=-0.1"),
        ({"weight_decay": -1.0}, "weight_decay=-1.0"),
        ({"sigma_min": 0.0}, "sigma_min=0.0"),
        ({"sigma_min": 0.1, "sigma_init": 0.05}, "sigma_init=0.05"),
        ({"sigma_max": 0.01}, "sigma_init=0.03"),
        ({"sigma_max_change": 1.0}, "sigma_max_change=1.0"),
        ({"sigma_max_change": 0.0}, "sigma_max_change=0.0"),
    ],
)
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PEPGConfig(**kwargs)


def test_config_is_frozen_and_keyword_only():
    config = PEPGConfig()
    with pytest.raises(AttributeError):
        config.popsize = 10
    with pytest.raises(TypeError):
        PEPGConfig(64)
