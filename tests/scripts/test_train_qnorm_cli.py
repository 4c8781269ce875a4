"""scripts/train_qnorm.py and scripts/evaluate.py through their command lines."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from agents.runs.checkpoint import load_model

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
TINY = ["--task", "recall", "--n", "4", "--m", "3", "--batch-size", "8", "--warmup", "5"]
QUIET = ["--progress", "false", "--threads", "1"]


def script(name: str, *args: str, **options) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPTS / f"{name}.py"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, **options)


def log_rows(run_dir: Path) -> list[dict]:
    with (run_dir / "log.csv").open() as file:
        return [
            {k: v for k, v in row.items() if k not in ("time", "cpu")}
            for row in csv.DictReader(file)
        ]


@pytest.mark.parametrize(
    ("task", "n", "variant", "size_key"),
    [("recall", 4, "q_R", "n_pairs"), ("coloring", 5, "q_r0", "n_vertices")],
)
def test_a_tiny_training_run_logs_checkpoints_and_evaluates(tmp_path, task, n, variant, size_key):
    out, model = tmp_path / "run", json.dumps({"width": 8})
    flags = f"--task {task} --n {n} --variant {variant} --q 10 --m 3 --batch-size 16 --steps 20"
    flags += " --warmup 5 --log-every 10 --eval-every 20 --eval-seeds 5"
    done = script("train_qnorm", *flags.split(), *QUIET, "--out", str(out), "--model", model)
    assert done.returncode == 0, done.stderr

    rows = log_rows(out)
    assert [row["step"] for row in rows] == ["10", "20"]
    assert rows[-1]["eval_success_p95"] != "" and rows[0]["eval_success_p95"] == ""
    model, extra, metadata = load_model(out / "model.pt", expect={"seed": 0})
    assert metadata["task"][size_key] == n and metadata["train"]["variant"] == variant
    assert metadata["steps_done"] == 20 and model.config.width == 8
    assert ("fixed_policy_seed" in extra) == variant.endswith("r0")

    evaluation = tmp_path / "eval"
    flags = ["--seeds", "5", "--majority", "3", "5", "--out", str(evaluation)]
    done = script("evaluate", str(out / "model.pt"), *flags)
    assert done.returncode == 0, done.stderr
    result = json.loads((evaluation / "eval.json").read_text())
    assert result["n_seeds"] == (1 if variant.endswith("r0") else 5)
    assert result["train_seed"] == 0
    assert {"majority_3", "majority_5"} <= result["summary"].keys()
    assert 0 <= result["summary"]["success"]["p95"] <= result["summary"]["success"]["average"]
    assert "majority_31" not in result["summary"]  # not asked for
    assert (evaluation / "histogram.png").exists() and "95th pct" in done.stdout
    again = script("evaluate", str(out / "model.pt"), *flags)
    assert again.returncode != 0 and "already holds eval.json" in again.stderr


def test_ctrl_c_saves_and_the_resumed_run_equals_an_unbroken_one(tmp_path):
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    flags = [*TINY, "--steps", "1500", "--checkpoint-every", "100", "--log-every", "50", *QUIET]
    assert script("train_qnorm", *flags, "--out", str(whole)).returncode == 0

    process = subprocess.Popen(
        [sys.executable, str(SCRIPTS / "train_qnorm.py"), *flags, "--out", str(broken)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    while not (broken / "checkpoint.pt").exists():
        assert process.poll() is None, "the run ended before its first checkpoint"
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0 and f"--resume {broken}" in stderr
    assert not (broken / "model.pt").exists()  # it stopped mid-run

    busy = script("train_qnorm", *flags, "--out", str(broken))
    assert busy.returncode != 0 and "already holds a run" in busy.stderr
    resumed = script("train_qnorm", "--resume", str(broken), *QUIET)
    assert resumed.returncode == 0, resumed.stderr
    assert log_rows(broken) == log_rows(whole)
    final = {name: load_model(run / "model.pt")[0].state_dict() for name, run in
             (("whole", whole), ("broken", broken))}  # fmt: skip
    for name, tensor in final["whole"].items():
        assert torch.equal(final["broken"][name], tensor), name


def test_resume_refuses_another_configuration_and_a_finished_run_keeps_its_model(tmp_path):
    out = tmp_path / "run"
    assert script("train_qnorm", *TINY, "--steps", "4", *QUIET, "--out", str(out)).returncode == 0
    other = script("train_qnorm", "--resume", str(out), "--variant", "E_R", *QUIET)
    assert other.returncode != 0 and "--variant: the run has 'q_R', you asked 'E_R'" in other.stderr
    nothing = script("train_qnorm", "--resume", str(tmp_path / "empty"), *QUIET)
    assert nothing.returncode != 0 and "holds no run" in nothing.stderr


def test_divergence_stops_with_the_last_good_checkpoint(tmp_path):
    out = tmp_path / "run"
    flags = [*TINY, "--steps", "200", "--lr", "1e30", "--lr-end", "1e30", "--warmup", "0"]
    result = script("train_qnorm", *flags, "--checkpoint-every", "1", *QUIET, "--out", str(out))
    assert result.returncode != 0 and "last good checkpoint" in result.stderr, result.stderr
    model, _, metadata = load_model(out / "checkpoint.pt")  # finite: loading checks it
    assert metadata["steps_done"] < 200 and not (out / "model.pt").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--steps", "0"], "--steps '0': expected a value >= 1"),
        (["--lr", "nan"], "--lr 'nan': expected a finite number"),
        (["--compile", "yes please"], "--compile 'yes please': expected true or false"),
        (["--model", "[1]"], "--model '[1]': expected a JSON object"),
        (["--task", "chess"], "--task 'chess': expected one of"),
        (["--n", "0"], "n_pairs"),
        (["--model", '{"depth": 3}'], "unknown config fields ['depth']"),
        (["--seed", "-1"], "--seed '-1': expected a value >= 0"),
        (["--checkpoint-every", "0"], "--checkpoint-every '0': expected a value >= 1"),
        (["--batch_size", "4"], "unrecognized arguments"),
    ],
)
def test_bad_flags_fail_before_any_work_naming_the_flag(tmp_path, flags, message):
    result = script("train_qnorm", *TINY, *flags, *QUIET, "--out", str(tmp_path / "bad"))
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert not (tmp_path / "bad" / "log.csv").exists()


def test_an_unwritable_out_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = script("train_qnorm", *TINY, *QUIET, "--out", str(blocker / "run"))
    assert result.returncode != 0 and "not a writable folder" in result.stderr


@pytest.mark.parametrize("damage", ["truncated", "nan", "foreign config"])
def test_damaged_checkpoints_are_refused_naming_the_problem(tmp_path, damage):
    out = tmp_path / "run"
    assert script("train_qnorm", *TINY, "--steps", "2", *QUIET, "--out", str(out)).returncode == 0
    path = out / "model.pt"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
        expected = "cannot be read"
    else:
        payload = torch.load(path, weights_only=True)
        if damage == "nan":
            payload["tensors"]["model.head.weight"][0, 0] = float("nan")
            expected = "model.head.weight"
        else:
            metadata = json.loads(payload["metadata"])
            metadata["model"]["width"] = "wide"
            payload["metadata"] = json.dumps(metadata)
            expected = "width"
        torch.save(payload, path)
    flags = ["--seeds", "5", "--majority", "3", "--out", str(tmp_path / "eval")]
    result = script("evaluate", str(path), *flags)
    assert result.returncode != 0 and expected in result.stderr, result.stderr
