from __future__ import annotations

import math

import cma
import numpy as np
import pytest
import torch

from agents.evolution.es import CMAES, CMAESConfig
from tests.agents.evolution.es.test_base import run, sphere


def test_solves_a_sphere_by_maximizing():
    target = torch.linspace(-1, 1, 10)
    es = CMAES(torch.zeros(10), CMAESConfig(sigma_init=0.5), seed=0)
    for _ in range(150):
        candidates = es.ask()
        es.tell(sphere(candidates, target))
    assert (es.center - target).norm().item() < 1e-3
    assert es.best_fitness > -1e-6


def test_maximizes_not_minimizes():
    # maximize -|x - 3|^2 in 2-D from 0: a minimizer of the told values would run away from 3
    es = CMAES(torch.zeros(2), CMAESConfig(popsize=8, sigma_init=1.0), seed=1)
    for _ in range(60):
        candidates = es.ask()
        es.tell(sphere(candidates, torch.full((2,), 3.0)))
    assert es.center.tolist() == pytest.approx([3.0, 3.0], abs=1e-2)


def test_default_popsize_is_pycmas():
    for dim in (2, 10, 1000):
        expected = cma.CMAEvolutionStrategy(np.zeros(dim), 1.0, {"verbose": -9}).popsize
        assert CMAES(torch.zeros(dim), seed=0).popsize == expected


def test_sigma_is_per_coordinate_and_starts_at_sigma_init():
    es = CMAES(torch.zeros(4), CMAESConfig(sigma_init=0.2), seed=0)
    assert es.sigma.tolist() == pytest.approx([0.2] * 4)
    run(es, 5)
    assert len(set(es.sigma.tolist())) == 4  # the diagonal adapted per coordinate


def test_writes_no_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run(CMAES(torch.zeros(5), seed=0), 3)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("dim", "popsize", "before"),
    [(5, 6, 1), (5, 13, 7), (300, 6, 1), (300, 10, 4)],  # CSA below dim 300, TPA from 300
)
def test_checkpoint_continuation_is_bit_identical_over_many_generations(dim, popsize, before):
    def make(seed):
        return CMAES(torch.zeros(dim), CMAESConfig(popsize=popsize, sigma_init=0.3), seed=seed)

    es = make(0)
    run(es, before)
    state_dict = es.state_dict()
    expected = run(es, 15)
    restored = make(1)
    restored.load_state_dict(state_dict)
    for (x1, c1), (x2, c2) in zip(expected, run(restored, 15), strict=True):
        assert torch.equal(x1, x2)
        assert torch.equal(c1, c2)
    assert torch.equal(es.sigma, restored.sigma)


def test_full_covariance_runs_but_has_no_checkpoints():
    es = CMAES(torch.zeros(4), CMAESConfig(popsize=6, diagonal=False), seed=0)
    run(es, 3)
    with pytest.raises(NotImplementedError, match="diagonal=True"):
        es.state_dict()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"popsize": 2}, "popsize=2"),
        ({"sigma_init": 0.0}, "sigma_init=0.0"),
        ({"sigma_init": math.nan}, "sigma_init=nan"),
    ],
)
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CMAESConfig(**kwargs)
