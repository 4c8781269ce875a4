"""scripts/sweep.py: a grid of q-norm runs gives one table, the same as Ray tasks or one by one."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

from agents.runs.cli import parse

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "sweep.py"
TINY = ["--n", "4", "--q", "1", "128", "--m", "3", "--steps", "10", "--batch-size", "8"]
TINY += ["--warmup", "2", "--model", json.dumps({"width": 8}), "--eval-seeds", "31"]


def sweep(*args: str) -> None:
    """Runs the sweep in this process (on the fixture's cluster with --backend ray)."""
    script = runpy.run_path(str(SCRIPT))
    script["main"](parse(script["Args"], None, list(args)))


def test_the_grid_runs_each_configuration_once():
    script = runpy.run_path(str(SCRIPT))
    args = script["Args"](variant=["E_R", "q_R", "q_r0"], q=[1.0, 8.0], m=[3, 5], seed=[0, 1])
    names = [cell.name for cell in script["grid"](args)]
    # E_R ignores q, q_r0 ignores m: 2 + 4 + 2 configurations per seed
    assert len(names) == len(set(names)) == 16
    assert "recall4_E_R_m5_s1" in names and "recall4_q_r0_q8_s0" in names


@pytest.mark.ray
def test_ray_tasks_give_the_table_of_one_by_one_runs(tmp_path, ray_cluster, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative folders: Ray workers start in another directory
    sweep(*TINY, "--out", "local")
    sweep(*TINY, "--backend", "ray", "--ray-address", ray_cluster, "--out", "ray")

    local = json.loads((tmp_path / "local" / "table.json").read_text())
    assert [(row["q"], row["m"]) for row in local] == [(1.0, 3), (128.0, 3)]
    assert json.loads((tmp_path / "ray" / "table.json").read_text()) == local
    table = (tmp_path / "ray" / "table.md").read_text()
    assert table == (tmp_path / "local" / "table.md").read_text()
    assert "| recall | 4 | q_R | 128 | 3 | 0 |" in table
    for output in ("output.txt", "train/run.json", "eval/eval.json"):
        recorded = (tmp_path / "ray" / "runs" / "recall4_q_R_q1_m3_s0" / output).read_text()
        assert "ray/runs/recall4_q_R_q1_m3_s0" in recorded  # as given, not resolved
        assert str(tmp_path) not in recorded


def test_every_cell_gets_the_compile_flag():
    script = runpy.run_path(str(SCRIPT))
    flags = script["common_flags"](script["Args"](compile=True))
    assert flags[flags.index("--compile") + 1] == "true"
    assert "--compile" in script["common_flags"](script["Args"]())  # false, explicitly
