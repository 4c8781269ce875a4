from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "compare_runs.py"
METRICS = ("success", "majority_5", "majority_31", "sampled", "loss", "variance")


def write_evaluation(folder: Path, variant: str, q: float, p95: float, n: int = 15) -> Path:
    """An eval.json as scripts/evaluate.py writes it, with hand-made figures."""
    stats = {"average": 0.5, "p95": p95, "worst": 0.125}
    evaluation = {
        "task": {"name": "recall", "n_pairs": n, "value_bits": 5},
        "train": {"variant": variant, "q": q, "n_seeds": 30, "steps": 100},
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
    assert rows[2].split(" | ")[7] == "0.375"  # the 95th percentile
    assert rows[2].split(" | ")[11] == "-"  # majority(155) was not evaluated
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_an_n_sweep_is_sorted_by_n_and_plotted_against_it(tmp_path):
    paths = [write_evaluation(tmp_path / f"n{n}", "q_R", 100.0, p95, n) for n, p95 in
             ((20, 0.125), (12, 0.5), (16, 0.25))]  # fmt: skip
    plot = tmp_path / "n.png"
    command = [sys.executable, str(SCRIPT), *map(str, paths), "--plot", str(plot), "--x", "n"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rows = [line for line in output.splitlines() if line.startswith("| recall")]
    assert [(row.split(" | ")[1], row.split(" | ")[7]) for row in rows] == [
        ("12", "0.500"), ("16", "0.250"), ("20", "0.125")
    ]  # fmt: skip
    assert plot.read_bytes().startswith(b"\x89PNG")
