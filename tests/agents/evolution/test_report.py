"""The final evaluation's agents: seeds drawn uniformly, the best fixed seed, their LP mixture."""

from __future__ import annotations

import numpy as np
import pytest

from agents.evolution.report import trained_rows


def test_the_three_uses_of_the_seeds_by_hand():
    # seeds (columns) on two instances (rows): two complementary seeds and a safe one
    returns = np.array([[-1.0, -3.0, -2.5], [-3.0, -1.0, -2.5]])
    uniform, fixed, mixed = trained_rows(returns).values()
    assert uniform["worst"] == pytest.approx(-6.5 / 3)
    assert fixed == {"average": -2.5, "p95": -2.5, "worst": -2.5}  # the safe seed
    assert mixed["worst"] == pytest.approx(-2.0)  # a coin flip between the complementary ones
    assert mixed["average"] == pytest.approx(-2.0)


def test_the_mixture_is_never_worse_than_the_best_fixed_seed():
    returns = -np.random.default_rng(0).integers(1, 50, size=(24, 8)).astype(float)
    rows = trained_rows(returns)
    mixed = rows["trained, its seeds mixed by the LP"]["worst"]
    assert mixed >= rows["trained, best fixed seed (deterministic)"]["worst"]
    assert mixed >= rows["trained, random seeds (m=8)"]["worst"]
