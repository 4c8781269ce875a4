"""AdversaryLogger: a tracking adversary's estimates in SB3's logger."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.logger import configure

from agents.sb3 import make_adversarial_vec_env
from agents.sb3.callbacks import AdversaryLogger
from randgym.wrappers import TrackingAdversary, UniformAdversary


def test_logs_the_estimates_the_adversary_learned(tmp_path):
    adversary = TrackingAdversary(q=8, seed=0)
    venv = make_adversarial_vec_env("RandAlg/GridExplore-v0", adversary, n_envs=2, seed=0)
    model = PPO("MultiInputPolicy", venv, n_steps=128, batch_size=64, n_epochs=1, seed=0)
    model.set_logger(configure(str(tmp_path), ["stdout", "csv"]))
    model.learn(512, callback=AdversaryLogger(adversary, worst=2))
    with open(tmp_path / "progress.csv") as file:
        rows = list(csv.DictReader(file))
    last = rows[-1]
    seen = ~np.isnan(adversary.estimates)
    assert int(float(last["adversary/seen"])) == seen.sum() > 0
    assert float(last["adversary/estimate_worst"]) == adversary.estimates[seen].min()
    assert float(last["adversary/worst_1"]) <= float(last["adversary/worst_2"])
    assert float(last["adversary/estimate_average"]) >= float(last["adversary/estimate_worst"])
    assert "adversary/estimates" not in last and "adversary/worst_1_instance" not in last


def test_refuses_adversaries_without_estimates():
    with pytest.raises(ValueError, match="UniformAdversary has no per-instance estimates"):
        AdversaryLogger(UniformAdversary())
    with pytest.raises(ValueError, match="TrackingAdversary has no per-instance estimates"):
        AdversaryLogger(TrackingAdversary())  # not bound yet
    adversary = TrackingAdversary()
    make_adversarial_vec_env("RandAlg/GridExplore-v0", adversary)
    with pytest.raises(ValueError, match="worst=0"):
        AdversaryLogger(adversary, worst=0)
