"""scripts/sb3_baseline.py: every algorithm on every env it supports; bad flags fail clearly."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import gymnasium as gym
import pytest

import randgym
from agents.metrics import summarize
from agents.sb3.env_recipe import EnvRecipe
from agents.sb3.evaluation import evaluation_instances, play_instances, policy_seeds

SCRIPT = Path(__file__).parents[2] / "scripts" / "sb3_baseline.py"
SPEC = importlib.util.spec_from_file_location("sb3_baseline", SCRIPT)
sb3_baseline = importlib.util.module_from_spec(SPEC)
sys.modules[SPEC.name] = sb3_baseline  # dataclasses look their module up
SPEC.loader.exec_module(sb3_baseline)

TINY = {  # 2000 steps on 8 sub-envs in a few seconds
    "ppo": {"n_steps": 64, "batch_size": 256, "n_epochs": 1},
    "a2c": {"n_steps": 16},
    "recurrent_ppo": {"n_steps": 64, "batch_size": 512, "n_epochs": 1,
                      "policy_kwargs": {"lstm_hidden_size": 16}},
    "dqn": {"learning_starts": 200, "buffer_size": 2000, "train_freq": 8},
}  # fmt: skip
QUICK_EVAL = ["--eval-seeds", "2", "--eval-instances", "12", "--baselines", "false"]
SUPPORTED = [
    (algo, env_id)
    for algo in TINY
    for env_id in randgym.ENV_IDS
    if algo != "dqn" or isinstance(gym.make(env_id).action_space, gym.spaces.Discrete)
]


def run(out: Path, *flags: str) -> None:
    argv = [*QUICK_EVAL, "--n-envs", "8", "--progress", "false", "--out", str(out), *flags]
    sb3_baseline.main(sb3_baseline.parse(sb3_baseline.Args, None, argv))


def last_logged(out: Path, column: str) -> str:
    """The last value written in a column of SB3's progress.csv."""
    with open(out / "progress.csv") as file:
        values = [row[column] for row in csv.DictReader(file) if row[column]]
    assert values, f"{column} was never logged"
    return values[-1]


def refusal(capsys, *flags: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        sb3_baseline.parse(sb3_baseline.Args, None, list(flags))
    assert exit_info.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(("algo", "env_id"), SUPPORTED)
def test_trains_saves_and_evaluates(algo, env_id, tmp_path):
    run(tmp_path, "--algo", algo, "--env", env_id, "--timesteps", "2000",
        "--algo-kwargs", json.dumps(TINY[algo]))  # fmt: skip
    rows = json.loads((tmp_path / "evaluation.json").read_text())
    assert list(rows) == [f"{algo}, sampled actions (m=2)", f"{algo}, argmax (deterministic)"]
    model = sb3_baseline.ALGORITHMS[algo][0].load(tmp_path / "model.zip")
    assert model.num_timesteps >= 2000
    recipe = EnvRecipe(**json.loads((tmp_path / "run.json").read_text())["config"]["recipe"])
    instances = evaluation_instances(recipe().unwrapped.generator, 12)[0]
    returns = play_instances(model, recipe, instances, policy_seeds(None, 2)[:1], True)
    assert summarize(returns[:, 0]) == rows[f"{algo}, argmax (deterministic)"]


@pytest.mark.parametrize("algo", TINY)
def test_trains_against_the_shared_adversary(algo, tmp_path):
    run(tmp_path, "--algo", algo, "--timesteps", "2000", "--adversary", "tracking",
        "--algo-kwargs", json.dumps(TINY[algo]))  # fmt: skip
    assert 0 < float(last_logged(tmp_path, "adversary/seen")) <= 24
    assert (tmp_path / "evaluation.json").exists()


def test_tracking_adversary_seed_and_transformer_under_subprocesses(tmp_path):
    run(
        tmp_path, "--algo", "ppo", "--timesteps", "1024", "--adversary", "tracking",
        "--seed-obs", "true", "--seed-bits", "4", "--features", "transformer",
        "--model-preset", "tiny", "--vec-env", "subproc", "--n-envs", "2",
        "--algo-kwargs", json.dumps({**TINY["ppo"], "batch_size": 128}),
    )  # fmt: skip
    assert 0 < float(last_logged(tmp_path, "adversary/seen")) <= 24
    rows = json.loads((tmp_path / "evaluation.json").read_text())
    assert "ppo, argmax, best fixed seed (deterministic)" in rows
    config = json.loads((tmp_path / "run.json").read_text())["config"]
    assert config["recipe"] == {"env_id": "RandAlg/GridExplore-v0", "env_kwargs": {},
                                "token_history": True, "seed_bits": 4}  # fmt: skip


def test_native_vector_env_with_the_baselines(tmp_path, capsys):
    run(
        tmp_path, "--algo", "a2c", "--env", "RandAlg/GraphColoring-v0", "--timesteps", "512",
        "--vec-env", "native", "--algo-kwargs", json.dumps(TINY["a2c"]), "--baselines", "true",
    )  # fmt: skip
    rows = json.loads((tmp_path / "evaluation.json").read_text())
    assert "greedy by id, 2 rounds (deterministic)" in rows
    assert "a fixed sample of 12 coloring instances" in capsys.readouterr().out


def test_bad_flags_fail_clearly(capsys):
    message = refusal(capsys, "--algo", "dqn", "--env", "RandAlg/AssociativeRecall-v1")
    assert "--algo dqn needs a Discrete action space" in message and "MultiBinary(5)" in message
    assert "RandAlg/AssociativeRecall-v1" in message
    assert "--algo 'sac': expected one of ['a2c', 'dqn'," in refusal(capsys, "--algo", "sac")
    assert "--vec-env native" in refusal(capsys, "--vec-env", "native", "--seed-obs", "true")
    assert "n_stepz" in refusal(capsys, "--algo-kwargs", '{"n_stepz": 8}')
    assert "refused" in refusal(capsys, "--env", "CartPole-v1")
    assert "size=1000" in refusal(capsys, "--env-kwargs", '{"size": 1000}')
    assert "do not fit" in refusal(capsys, "--env-kwargs", '{"bogus": 1}')
    assert "presets" in refusal(capsys, "--model-preset", "huge")
    assert "expected a value >= 1" in refusal(capsys, "--timesteps", "0")
