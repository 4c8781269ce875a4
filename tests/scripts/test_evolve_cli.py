"""scripts/evolve.py end to end: a killed run resumes to the same result as an unbroken one."""

from __future__ import annotations

import csv
import itertools
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.evolution.run import Evolution
from agents.models.population import unflatten_parameters
from agents.tasks.grid.player import GridTransformerPolicy

SCRIPT = Path(__file__).parents[2] / "scripts" / "evolve.py"
MODEL = json.dumps(
    {"width": 8, "n_heads": 1, "key_size": 4, "seed_dim": 4, "mlp": False, "seed_pool": 2}
)
CONFIG = ["--model", MODEL, "--popsize", "4", "--m", "2"]
RUNTIME = ["--checkpoint-every", "5", "--eval-every", "60", "--eval-seeds", "4", "--threads", "1"]
RUNTIME += ["--progress", "false"]
TINY = [*CONFIG, "--generations", "40", *RUNTIME]


def evolve(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def log_rows(run_dir: Path) -> list[dict]:
    with (run_dir / "log.csv").open() as file:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(file)]


def final_state(run_dir: Path) -> dict:
    payload = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    return payload["tensors"]


def test_killed_run_resumes_to_the_same_result(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    done = evolve(*TINY, "--out", str(whole))
    assert done.returncode == 0, done.stderr
    assert "95th pct" in done.stdout and (whole / "heatmap.png").exists()

    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), *TINY, "--out", str(killed)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    while not (killed / "checkpoint.pt").exists():
        assert process.poll() is None, "the run ended before its first checkpoint"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "evaluation.json").exists()  # it really died mid-run

    resumed = evolve("--resume", str(killed), *RUNTIME)
    assert resumed.returncode == 0, resumed.stderr
    assert log_rows(killed) == log_rows(whole)
    for name, tensor in final_state(whole).items():
        assert torch.equal(final_state(killed)[name], tensor), name


def test_a_spent_time_budget_checkpoints_reports_and_resumes(tmp_path):
    run_dir = tmp_path / "budget"
    long = [*CONFIG, "--generations", "100000", *RUNTIME, "--out", str(run_dir)]
    spent = evolve(*long, "--max-minutes", "0.01")
    assert spent.returncode == 0, spent.stderr
    assert "--max-minutes spent at generation" in spent.stdout and "95th pct" in spent.stdout
    stopped_at = len(log_rows(run_dir))
    assert 1 <= stopped_at < 100000
    assert json.loads((run_dir / "evaluation.json").read_text())

    resumed = evolve("--resume", str(run_dir), "--generations", str(stopped_at + 3), *RUNTIME)
    assert resumed.returncode == 0, resumed.stderr
    assert len(log_rows(run_dir)) == stopped_at + 3


def test_resume_refuses_another_configuration_and_corrupt_files(tmp_path):
    run_dir = tmp_path / "run"
    short = [*CONFIG, "--generations", "2", "--eval-every", "1", "--threads", "1"]
    assert evolve(*short, "--out", str(run_dir)).returncode == 0
    again = evolve(*short, "--out", str(run_dir))
    assert again.returncode != 0 and "already holds a run" in again.stderr
    other = evolve("--resume", str(run_dir), "--q", "1", "--threads", "1")
    assert other.returncode != 0 and "--q: the run has 8.0, you asked 1.0" in other.stderr
    assert "in use" not in other.stderr  # the refused resume released its lock
    stages = evolve("--resume", str(run_dir), "--q-schedule", "none", "--threads", "1")
    assert "--q-schedule: the run has ((40, 1.0),), you asked ()" in stages.stderr
    shorter = evolve("--resume", str(run_dir), "--generations", "1", "--threads", "1")
    assert shorter.returncode != 0 and "already has 2 generations" in shorter.stderr
    longer = evolve("--resume", str(run_dir), "--generations", "3", *RUNTIME)
    assert longer.returncode == 0 and len(log_rows(run_dir)) == 3
    (run_dir / "checkpoint.pt").write_bytes(b"not a checkpoint")
    corrupt = evolve("--resume", str(run_dir), "--threads", "1")
    assert corrupt.returncode != 0 and "corrupt" in corrupt.stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--q", "0.5"], "--q '0.5': expected a value >= 1"),
        (["--q", "nan"], "--q 'nan': expected a finite number"),
        (["--popsize", "5"], "popsize=5"),
        (["--m", "0"], "--m '0': expected a value >= 1"),
        (["--m", "3"], "m=3 with seed_pool=2: every generation plays the whole pool; set m=2"),
        (["--fixed-seed", "maybe"], "--fixed-seed 'maybe': expected true or false"),
        (["--env-kwargs", "[5]"], "--env-kwargs '[5]': expected a JSON object"),
        (["--env-kwargs", '{"size": 100000}'], "size=100000"),
        (["--env-id", "CartPole-v1"], "RandAlg/"),
        (["--env-id", "os:system"], "RandAlg/"),
        (["--preset", "huge"], "--preset 'huge'"),
        (["--q-schedule", "40"], "--q-schedule 40: expected UNTIL:Q stages"),
        (["--q-schedule", "40:1", "20:8"], "q_schedule=((40, 1.0), (20, 8.0)) is invalid"),
        (["--mix-seeds", "true", "--q", "8"], "mix_seeds=True with q=8.0: "),
    ],
)  # fmt: skip
def test_bad_flags_fail_clearly_before_any_work(tmp_path, flags, message):
    result = evolve(*CONFIG, *flags, "--threads", "1", "--out", str(tmp_path / "bad"))
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert not (tmp_path / "bad" / "log.csv").exists()


@pytest.mark.parametrize(("mix", "agent"), [("false", "random seeds (m=2)"),
                                           ("true", "its seeds mixed by the LP")])  # fmt: skip
def test_the_logged_evaluations_follow_the_agent_being_trained(tmp_path, mix, agent):
    flags = [*CONFIG, "--q", "inf", "--mix-seeds", mix, "--generations", "2", *RUNTIME]
    done = evolve(*flags, "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    final = json.loads((tmp_path / "run" / "evaluation.json").read_text())[f"trained, {agent}"]
    logged = log_rows(tmp_path / "run")[-1]
    assert [float(logged[f"eval_{key}"]) for key in ("average", "p95", "worst")] == pytest.approx(
        [final[key] for key in ("average", "p95", "worst")]
    )


def test_the_saved_seed_mixture_is_the_mixed_agent_played_in_gym(tmp_path):
    done = evolve(*CONFIG, "--q", "inf", "--generations", "2", *RUNTIME, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    run, _ = Evolution.load(tmp_path / "checkpoint.pt")
    run.model.load_state_dict(unflatten_parameters(run.model, run.es.center))
    weights = json.loads((tmp_path / "seed_mixture.json").read_text())["pool_weights"]
    env = gym.make("RandAlg/GridExplore-v0")
    returns = np.zeros((24, len(weights)))  # cells x pool seeds, played one episode at a time
    for seed, cell in itertools.product(range(len(weights)), range(24)):
        policy = GridTransformerPolicy(run.model, run.player, run.model.policy_seed_pool[seed])
        obs, _ = env.reset(options={"instance": run.generator.instance_from_index(cell)})
        ended = False
        while not ended:
            obs, reward, terminated, truncated, _ = env.step(policy(obs))
            returns[cell, seed] += reward
            ended = terminated or truncated
    rows = json.loads((tmp_path / "evaluation.json").read_text())
    mixed = rows["trained, its seeds mixed by the LP"]
    assert sum(weights) == pytest.approx(1.0)
    assert (returns @ weights).mean() == pytest.approx(mixed["average"])
    assert (returns @ weights).min() == pytest.approx(mixed["worst"])


def test_readme_commands_run_twice_into_fresh_default_folders(tmp_path):
    for _ in range(2):
        done = evolve(*CONFIG, "--generations", "1", *RUNTIME, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "runs" / "evolve" / "evaluation.json").exists()
    assert (tmp_path / "runs" / "evolve-2" / "evaluation.json").exists()


@pytest.mark.parametrize("env_id", ["RandAlg/GraphColoring-v0", "RandAlg/AssociativeRecall-v1"])
def test_any_registered_env_evolves(tmp_path, env_id):
    model = json.dumps({"width": 8, "key_size": 4})
    flags = ["--env-id", env_id, "--model", model, "--popsize", "4", "--m", "2"]
    flags += ["--instances", "8", "--generations", "2", "--env-kwargs", '{"%s": 4}']
    size = "n_vertices" if "Coloring" in env_id else "n_pairs"
    flags[-1] = flags[-1] % size
    done = evolve(*flags, *RUNTIME, "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    rows = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert any("randomized" in name for name in rows) and any("random seeds" in n for n in rows)


def test_a_checkpoint_never_makes_an_env_outside_the_package(tmp_path):
    run_dir = tmp_path / "run"
    assert evolve(*CONFIG, "--generations", "1", *RUNTIME, "--out", str(run_dir)).returncode == 0
    payload = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    metadata = json.loads(payload["metadata"])
    metadata["config"]["env_id"] = "os:system"  # an entry point that would import a module
    payload["metadata"] = json.dumps(metadata)
    torch.save(payload, run_dir / "checkpoint.pt")
    refused = evolve("--resume", str(run_dir), "--threads", "1")
    assert refused.returncode != 0 and "env id 'os:system' is refused" in refused.stderr
