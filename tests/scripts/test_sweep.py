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


def test_the_optimisation_flags_reach_every_cell():
    script = runpy.run_path(str(SCRIPT))
    flags = script["common_flags"](script["Args"](lr_end=1e-6, warmup=7))
    assert flags[flags.index("--lr-end") + 1] == "1e-06"
    assert flags[flags.index("--warmup") + 1] == "7"
    assert "--lr-end" not in script["common_flags"](script["Args"]())  # the task's default


def test_a_stopped_sweep_continues_where_it_stopped(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    sweep(*TINY, "--out", "whole")
    whole = json.loads(Path("whole/table.json").read_text())
    first, second = (Path("whole/runs") / name for name in ("recall4_q_R_q1_m3_s0",
                                                            "recall4_q_R_q128_m3_s0"))  # fmt: skip
    kept = first / "eval" / "eval.json"
    kept.write_text(kept.read_text().replace('"eval_seed": 0', '"eval_seed": 0, "kept": true'))
    # stopped after the first cell, while the second one was training: no table, no model yet
    Path("whole/table.json").unlink()
    (second / "train" / "model.pt").unlink()
    (second / "eval" / "eval.json").unlink()
    capsys.readouterr()
    sweep(*TINY, "--out", "whole")
    assert json.loads(Path("whole/table.json").read_text()) == whole
    assert json.loads(kept.read_text())["kept"]  # not run again
    printed = capsys.readouterr().out
    assert f"kept {first}" in printed and f"resuming {second} from its last checkpoint" in printed
    assert (second / "train" / "model.pt").exists()
    Path("whole/table.json").unlink()
    sweep(*TINY, "--eval-seeds", "33", "--out", "whole")  # other flags: evaluated again
    assert json.loads(kept.read_text())["n_seeds"] == 33
    kept.write_text(kept.read_text().replace('"eval_seed": 0', '"eval_seed": 0, "kept": true'))
    sweep(*TINY, "--eval-seeds", "33", "--out", "whole", "--overwrite", "true")  # every cell
    assert "kept" not in json.loads(kept.read_text())
