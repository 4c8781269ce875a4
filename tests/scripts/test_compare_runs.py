from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "compare_runs.py"
METRICS = ("success", "majority_5", "majority_31", "sampled", "loss", "variance")


def write_evaluation(folder: Path, variant: str, q: float, p95: float) -> Path:
    """An eval.json as scripts/evaluate.py writes it, with hand-made figures."""
    stats = {"average": 0.5, "p95": p95, "worst": 0.125}
    evaluation = {
        "task": {"name": "recall", "n_pairs": 15, "value_bits": 5},
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
