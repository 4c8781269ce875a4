"""Reports of grid agents: first-visit times, path pictures and the classical baselines."""

from __future__ import annotations

import numpy as np
import torch

from agents.evolution.engine import Rollouts
from agents.tasks.grid.report import classical_returns, first_visit_times, trajectory_text


def test_first_visit_times_of_a_hand_made_episode():
    # one episode on a 3x3 grid: right, right, up, then phase 2 starts (phase 1 at step 4)
    cells = np.array([(1, 0), (2, 0), (2, 1), (1, 0)]).reshape(4, 1, 1, 1, 2)
    phases = np.array([0, 0, 0, 1]).reshape(4, 1, 1, 1)
    rollouts = Rollouts(torch.zeros(1, 1, 1), cells, phases)
    times = first_visit_times(rollouts, size=3, horizon=9)
    expected = np.full((3, 3), 9.0)
    expected[0, 0], expected[1, 0], expected[2, 0], expected[2, 1] = 0, 1, 2, 3
    np.testing.assert_array_equal(times, expected)


def test_trajectory_text_shows_first_visit_steps_north_up():
    lines = trajectory_text(np.array([(1, 0), (1, 1), (1, 0)]), size=2)
    assert lines == [" .  2", " 0  1"]


def test_classical_sweeps_on_every_cell():
    cells = np.array([(x, y) for y in range(5) for x in range(5)][1:])
    sweep, random_sweep = classical_returns("RandAlg/GridExplore-v0", {}, cells, 8)
    assert sweep.min() == -32 and sweep.max() == -2  # the sweep reaches (4, 4) last
    assert random_sweep.min() > sweep.min()  # randomizing the sweep helps the worst case
