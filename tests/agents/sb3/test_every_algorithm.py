"""A2C, DQN and RecurrentPPO of scripts/sb3_baseline.py beyond the CLI tests' cases.

The CLI tests (tests/scripts/test_sb3_baseline_cli.py, whose loaded script and list of
supported (algorithm, env) pairs this reuses) train every algorithm on every env it
supports without adversary, and against the tracking adversary on the grid, on DummyVecEnv;
test_every_env.py and test_adversary.py train PPO on every env under both VecEnvs, with and
without adversaries. Here the script's own pieces train the other algorithms against one
shared tracking adversary (with the seed in the observation) on the one-shot envs, and under
SubprocVecEnv (one case each: a worker process takes seconds to start); the adversary must see
the episodes of every worker, and the saved model must load, equal the trained one, and
evaluate.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.scripts.test_sb3_baseline_cli import SUPPORTED, sb3_baseline

STEPS = 256  # on 2 sub-envs: a few updates of each algorithm
TINY = {
    "a2c": {"n_steps": 8},
    "dqn": {"learning_starts": 64, "buffer_size": 512, "train_freq": 8},
    "recurrent_ppo": {"n_steps": 64, "batch_size": 64, "n_epochs": 1,
                      "policy_kwargs": {"lstm_hidden_size": 8}},
}  # fmt: skip
GRID, RECALL, COLORING = (
    "RandAlg/GridExplore-v0",
    "RandAlg/AssociativeRecall-v1",
    "RandAlg/GraphColoring-v0",
)
SUBPROC = [  # a worker process takes seconds to start: one case per algorithm
    ("a2c", COLORING, "tracking"),
    ("dqn", GRID, "none"),
    ("recurrent_ppo", RECALL, "tracking"),
]


CASES = [  # without adversary, and against it on the grid, the CLI tests cover DummyVecEnv
    (algo, env_id, "tracking", "dummy")
    for algo in TINY
    for env_id in (RECALL, COLORING)
    if (algo, env_id) in SUPPORTED
] + [(algo, env_id, adversary, "subproc") for algo, env_id, adversary in SUBPROC]


def episodes_per_worker(venv) -> list[int]:
    """The finished episodes of each sub-env, as its SB3 Monitor counted them."""
    return [len(returns) for returns in venv.get_attr("episode_returns")]


@pytest.mark.parametrize(("algo", "env_id", "adversary", "vec_env"), CASES)
def test_trains_saves_loads_and_evaluates(algo, env_id, adversary, vec_env, tmp_path):
    flags = ["--algo", algo, "--env", env_id, "--adversary", adversary, "--vec-env", vec_env]
    flags += ["--seed-obs", str(adversary != "none"), "--seed-bits", "4", "--n-envs", "2"]
    flags += ["--algo-kwargs", json.dumps(TINY[algo]), "--eval-seeds", "2"]
    flags += ["--eval-instances", "8", "--baselines", "false", "--out", str(tmp_path)]
    args = sb3_baseline.parse(sb3_baseline.Args, None, flags)
    shared = sb3_baseline.make_adversary(args)
    venv = sb3_baseline.make_training_env(args, shared)
    try:
        model = sb3_baseline.build_model(args, venv, tmp_path)
        model.learn(STEPS)
        per_worker = episodes_per_worker(venv)
    finally:
        venv.close()
    assert model.num_timesteps >= STEPS and min(per_worker) > 0
    if shared is not None:  # one adversary saw every episode of every worker
        assert venv.episodes == sum(per_worker)
        assert 0 < np.sum(~np.isnan(shared.estimates)) <= venv.episodes

    model.save(tmp_path / "model.zip")
    loaded = sb3_baseline.ALGORITHMS[algo][0].load(tmp_path / "model.zip")
    saved, reloaded = model.policy.state_dict(), loaded.policy.state_dict()
    assert all(torch.equal(saved[name], reloaded[name]) for name in saved)
    sb3_baseline.evaluate(args, loaded, tmp_path)
    rows = json.loads((tmp_path / "evaluation.json").read_text())
    argmax = [name for name in rows if name.startswith(f"{algo}, argmax")]
    assert f"{algo}, sampled actions (m=2)" in rows and argmax
    assert all(rows[name]["worst"] <= rows[name]["average"] for name in rows)
