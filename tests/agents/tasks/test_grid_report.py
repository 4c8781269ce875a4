"""Reports of grid agents: first-visit times, path pictures and the classical baselines."""

from __future__ import annotations

import numpy as np
import torch

from agents.baselines.play import baseline_returns
from agents.evolution.engine import Rollouts
from agents.tasks import GridTask
from agents.tasks.grid.report import first_visit_times, trajectory_text


def test_first_visit_times_of_a_hand_made_episode():
    # one episode on a 3x3 grid: right, right, up, then phase 2 starts (phase 1 at step 4)
    cells = np.array([(1, 0), (2, 0), (2, 1), (1, 0)]).reshape(4, 1, 1, 1, 2)
    phases = np.array([0, 0, 0, 1]).reshape(4, 1, 1, 1)
    rollouts = Rollouts(torch.zeros(1, 1, 1), {"positions": cells, "phases": phases})
    times = first_visit_times(rollouts, size=3, horizon=9)
    expected = np.full((3, 3), 9.0)
    expected[0, 0], expected[1, 0], expected[2, 0], expected[2, 1] = 0, 1, 2, 3
    np.testing.assert_array_equal(times, expected)


def test_trajectory_text_shows_first_visit_steps_north_up():
    lines = trajectory_text(np.array([(1, 0), (1, 1), (1, 0)]), size=2)
    assert lines == [" .  2", " 0  1"]


def test_classical_sweeps_on_every_cell():
    task = GridTask()
    cells = np.stack(list(task.generator.instances()))
    sweep, random_sweep = (baseline_returns(task.env, b, cells, 8) for b in task.baselines())
    assert sweep.min() == -32 and sweep.max() == -2  # the sweep reaches (4, 4) last
    assert random_sweep.min() > sweep.min()  # randomizing the sweep helps the worst case
