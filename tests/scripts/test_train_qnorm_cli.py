from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from agents.runs.checkpoint import load_model

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"script_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize(
    ("task", "n", "variant", "size_key"),
    [("recall", 4, "q_R", "n_pairs"), ("coloring", 5, "q_r0", "n_vertices")],
)
def test_a_tiny_training_run_logs_checkpoints_and_evaluates(
    tmp_path, monkeypatch, capsys, task, n, variant, size_key
):
    train, evaluate = load_script("train_qnorm"), load_script("evaluate")
    out = tmp_path / "run"
    argv = f"--task {task} --n {n} --variant {variant} --q 10 --m 3 --batch_size 16 --steps 20"
    argv += " --warmup 5 --log_every 10 --eval_every 20 --eval_seeds 5 --progress false"
    argv = [*argv.split(), "--out", str(out), "--model", json.dumps({"width": 8})]
    monkeypatch.setattr(sys, "argv", ["train_qnorm.py", *argv])
    train.main(train.parse_args())

    with open(out / "log.csv") as file:
        rows = list(csv.DictReader(file))
    assert [row["step"] for row in rows] == ["10", "20"]
    assert rows[-1]["eval_success_p95"] != "" and rows[0]["eval_success_p95"] == ""
    model, extra, metadata = load_model(out / "model.pt", expect={"seed": 0})
    assert metadata["task"][size_key] == n and metadata["train"]["variant"] == variant
    assert metadata["steps_done"] == 20 and model.config.width == 8
    assert ("fixed_policy_seed" in extra) == variant.endswith("r0")

    argv = ["evaluate.py", str(out / "model.pt"), "--seeds", "5", "--majority", "3", "5", "7"]
    monkeypatch.setattr(sys, "argv", argv)
    evaluate.main(evaluate.parse_args())
    result = json.loads((out / "eval.json").read_text())
    assert result["n_seeds"] == (1 if variant.endswith("r0") else 5)
    assert {"majority_3", "majority_5"} <= result["summary"].keys()
    assert 0 <= result["summary"]["success"]["p95"] <= result["summary"]["success"]["average"]
    assert ("majority_7" in result["summary"]) == variant.endswith("r0")  # 7 > 5 seeds
    assert "majority_31" not in result["summary"]  # not asked for
    assert (out / "histogram.png").exists()
    assert "95th pct" in capsys.readouterr().out


def test_unknown_flags_are_rejected(monkeypatch):
    train = load_script("train_qnorm")
    monkeypatch.setattr(sys, "argv", ["train_qnorm.py", "--seeed", "3"])
    with pytest.raises(SystemExit):
        train.parse_args()
