"""Bootstrap intervals over training seeds and the grouping of replicate runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agents.reports.replicates import bootstrap_interval, distinguishing_labels, group_replicates
from agents.reports.runs import Run


def run(seed: int, worst: float, script: str = "evolve", **config) -> Run:
    row = {"average": worst + 1, "p95": worst + 0.5, "worst": worst}
    return Run(Path(f"run{seed}{config}"), script, {"name": "grid"}, {"q": 8.0, **config}, seed,
               {"agent": row, "serpentine": row}, None, {})  # fmt: skip


def test_one_seed_has_no_interval_and_equal_seeds_a_point():
    rng = np.random.default_rng(0)
    assert bootstrap_interval([2.0], rng).low is None
    same = bootstrap_interval([3.0, 3.0, 3.0], rng)
    assert (same.mean, same.low, same.high) == (3.0, 3.0, 3.0)
    with pytest.raises(ValueError, match="expected \\(n,\\), n >= 1"):
        bootstrap_interval([], rng)


def test_the_interval_holds_the_mean_within_the_values():
    values = np.random.default_rng(1).normal(size=20)
    estimate = bootstrap_interval(values, np.random.default_rng(0))
    assert values.min() < estimate.low < values.mean() < estimate.high < values.max()
    assert estimate.mean == pytest.approx(values.mean())
    # the percentile interval of the mean is about +-1.96 standard errors
    half_width = (estimate.high - estimate.low) / 2
    assert half_width == pytest.approx(1.96 * values.std() / np.sqrt(20), rel=0.15)


def test_runs_differing_only_in_seed_are_one_group_of_their_agent_rows():
    runs = [run(0, -30.0), run(1, -20.0), run(2, -25.0), run(0, -40.0, q=1.0)]
    groups = group_replicates(runs, [["agent"]] * 4)
    assert [group.label for group in groups] == ["evolve q=8", "evolve q=1"]
    assert groups[0].seeds == {"agent": 3} and groups[1].seeds == {"agent": 1}
    assert groups[0].rows["agent"]["worst"].mean == pytest.approx(-25.0)
    assert "serpentine" not in groups[0].rows


def test_labels_compare_a_run_with_its_own_script_only():
    runs = [run(0, -1.0), run(1, -1.0, script="sb3_baseline", algo="ppo")]
    assert distinguishing_labels(runs) == ["evolve", "sb3_baseline"]


def test_labels_name_only_the_settings_a_run_has():
    runs = [run(0, -1.0, model={}), run(1, -1.0, model={"seed_pool": 16})]
    assert distinguishing_labels(runs) == ["evolve", "evolve model.seed_pool=16"]
