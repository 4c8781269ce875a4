from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

from agents.tasks import RecallTask

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "compare_runs.py"
METRICS = ("success", "majority_5", "majority_31", "sampled", "loss", "variance")


def write_evaluation(
    folder: Path, variant: str, q: float, p95: float, n: int = 15, seed: int | None = None
) -> Path:
    """An eval.json as scripts/evaluate.py writes it, with hand-made figures."""
    stats = {"average": 0.5, "p95": p95, "worst": 0.125}
    evaluation = {
        "task": {"name": "recall", "n_pairs": n, "value_bits": 5},
        "train": {"variant": variant, "q": q, "n_seeds": 30, "steps": 100},
        "model": dataclasses.asdict(RecallTask(n).model_config()),
        "train_seed": seed,
        "summary": {metric: stats for metric in METRICS},
    }
    folder.mkdir()
    path = folder / "eval.json"
    path.write_text(json.dumps(evaluation))
    return path


def test_rows_are_sorted_by_effective_q_and_the_sweep_is_plotted(tmp_path):
    paths = [
        write_evaluation(tmp_path / "a", "q_R", 100.0, 0.375),
        write_evaluation(tmp_path / "b", "E_R", 100.0, 0.0),  # ERM: trains with q = 1
        write_evaluation(tmp_path / "c", "q_r0", 16.0, 0.0),
    ]
    plot = tmp_path / "sweep.png"
    command = [sys.executable, str(SCRIPT), *map(str, paths), "--plot", str(plot)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rows = [line for line in output.splitlines() if line.startswith("| recall")]
    assert [row.split(" | ")[2:5] for row in rows] == [
        ["E_R", "1", "30"],
        ["q_r0", "16", "r0"],
        ["q_R", "100", "30"],
    ]
    assert rows[2].split(" | ")[6] == "?"  # no training seed recorded
    assert rows[2].split(" | ")[8] == "0.375"  # the 95th percentile
    assert rows[2].split(" | ")[12] == "-"  # majority(155) was not evaluated
    assert "Replicates" not in output  # every configuration has one run
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_an_n_sweep_is_sorted_by_n_and_plotted_against_it(tmp_path):
    paths = [write_evaluation(tmp_path / f"n{n}", "q_R", 100.0, p95, n) for n, p95 in
             ((20, 0.125), (12, 0.5), (16, 0.25))]  # fmt: skip
    plot = tmp_path / "n.png"
    command = [sys.executable, str(SCRIPT), *map(str, paths), "--plot", str(plot), "--x", "n"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rows = [line for line in output.splitlines() if line.startswith("| recall")]
    assert [(row.split(" | ")[1], row.split(" | ")[8]) for row in rows] == [
        ("12", "0.500"), ("16", "0.250"), ("20", "0.125")
    ]  # fmt: skip
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_replicates_get_their_mean_and_range_and_one_point_each(tmp_path):
    paths = [write_evaluation(tmp_path / f"n{n}s{seed}", "q_R", 100.0, p95, n, seed)
             for n, seed, p95 in ((12, 1, 0.5), (12, 0, 0.25), (16, 0, 0.125))]  # fmt: skip
    plot = tmp_path / "n.png"
    command = [sys.executable, str(SCRIPT), *map(str, paths), "--plot", str(plot), "--x", "n"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    runs, replicates = output.split("Replicates")
    rows = [line.split(" | ") for line in runs.splitlines() if line.startswith("| recall")]
    assert [(row[1], row[6], row[8]) for row in rows] == [
        ("12", "0", "0.250"), ("12", "1", "0.500"), ("16", "0", "0.125")
    ]  # fmt: skip
    rows = [line.split(" | ") for line in replicates.splitlines() if line.startswith("| recall")]
    assert [(row[1], row[6], row[8]) for row in rows] == [("12", "2", "0.375 [0.250, 0.500]")]
    assert plot.read_bytes().startswith(b"\x89PNG")
