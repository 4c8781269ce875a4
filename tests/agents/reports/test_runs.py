"""Finding and reading run folders: what is read, and what is named and skipped."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from agents.reports.runs import find_runs, read_run
from agents.tasks import RecallTask

MODEL = dataclasses.asdict(RecallTask(4).model_config())

ROW = {"average": -20.0, "p95": -30.0, "worst": -32.0}


def evolve_run(folder: Path, seed: int = 0, rows: object = None) -> Path:
    folder.mkdir(parents=True)
    config = {"env_id": "RandAlg/GridExplore-v0", "env_kwargs": None, "q": 8.0, "seed": seed}
    (folder / "run.json").write_text(json.dumps({"script": "evolve", "config": config}))
    (folder / "evaluation.json").write_text(json.dumps(rows or {"trained": ROW}))
    (folder / "log.csv").write_text("generation,return_mean,eval_worst\n1,-40,\n2,-35,-33\n")
    return folder


def test_an_evolve_run_is_read_with_its_task_seed_rows_and_curve(tmp_path):
    run = read_run(evolve_run(tmp_path / "a", seed=3))
    assert (run.script, run.seed, run.task_spec) == ("evolve", 3, {"name": "grid"})
    expected = {"env_id": "RandAlg/GridExplore-v0", "env_kwargs": None, "q": 8.0, "q_schedule": []}
    assert run.config == expected
    assert run.rows == {"trained": ROW}
    assert run.curve.x == (1.0, 2.0) and run.curve.y == (-40.0, -35.0)


def test_corrupt_and_unevaluated_runs_are_named_and_skipped(tmp_path):
    evolve_run(tmp_path / "good")
    evolve_run(tmp_path / "nan", rows={"trained": {**ROW, "worst": float("nan")}})
    (tmp_path / "qnorm").mkdir()
    config = {"task": "recall", "seed": 0}
    (tmp_path / "qnorm" / "run.json").write_text(json.dumps({"script": "train_qnorm",
                                                             "config": config}))  # fmt: skip
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "run.json").write_text(json.dumps({"script": "x", "config": {}}))
    warnings: list[str] = []
    runs = find_runs(tmp_path, warnings.append)
    assert [run.path.name for run in runs] == ["good"]
    assert len(warnings) == 3
    assert "nan/evaluation.json is corrupt" in warnings[0]
    assert "other/run.json is no run of ['evolve', 'sb3_baseline', 'train_qnorm']" in warnings[1]
    assert "not evaluated yet: run scripts/evaluate.py" in warnings[2]


def test_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(ValueError, match="is not a folder"):
        find_runs(tmp_path / "missing", print)


def evaluation(folder: Path, checkpoint: str, success: float, **fields: object) -> None:
    folder.mkdir(parents=True)
    summary = {"success": {**ROW, "average": success}, "majority_5": ROW, "loss": ROW}
    result = {"checkpoint": checkpoint, "task": {"name": "recall", "n_pairs": 4},
              "train": {"variant": "q_R"}, "model": MODEL, "n_seeds": 5,
              "summary": summary, **fields}  # fmt: skip
    (folder / "eval.json").write_text(json.dumps(result))


def test_an_eval_json_alone_is_a_run_of_unknown_seed_counted_once(tmp_path):
    evaluation(tmp_path / "a", "runs/a/model.pt", 0.5)
    evaluation(tmp_path / "b", "runs/b/model.pt", 0.6)
    evaluation(tmp_path / "c", "runs/a/model.pt", 0.5)
    warnings: list[str] = []
    runs = find_runs(tmp_path, warnings.append)
    assert [run.path.name for run in runs] == ["a", "b"]
    assert warnings == [f"skipping {tmp_path / 'c'}: its eval.json evaluates runs/a/model.pt, "
                        f"as {tmp_path / 'a'} does"]  # fmt: skip
    first = runs[0]
    assert (first.script, first.seed) == ("evaluate", None)
    assert first.task_spec == {"name": "recall", "n_pairs": 4}
    assert list(first.rows) == ["success (m=5)", "majority_5"]  # no loss row
    assert first.rows["success (m=5)"]["average"] == 0.5
    assert first.replicate_key == runs[1].replicate_key  # replicates of one config


def test_an_eval_json_names_its_training_seed_and_older_fields_compare_equal(tmp_path):
    older_model = {key: value for key, value in MODEL.items() if key != "seed_pool"}
    evaluation(tmp_path / "a", "runs/a/model.pt", 0.5, train_seed=3)
    evaluation(tmp_path / "b", "runs/b/model.pt", 0.6, model=older_model)  # before seed_pool
    evaluation(tmp_path / "c", "runs/c/model.pt", 0.6, train={"variant": "q_R", "q": 8.0})
    a, b, c = find_runs(tmp_path, print)
    assert (a.seed, b.seed) == (3, None)
    assert a.replicate_key == b.replicate_key != c.replicate_key


def test_a_sweep_cell_is_one_run_read_from_its_train_and_eval_folders(tmp_path):
    cells = tmp_path / "sweep" / "runs"
    for name, seed in (("recall4_q_R_s4", 4), ("recall4_q_R_s5", 5)):
        (cells / name / "train").mkdir(parents=True)
        config = {"task": "recall", "n": 4, "seed": seed, "out": f"sweep/runs/{name}/train"}
        run = {"script": "train_qnorm", "config": config}
        (cells / name / "train" / "run.json").write_text(json.dumps(run))
        (cells / name / "train" / "log.csv").write_text("step,success\n10,0.25\n20,0.5\n")
        evaluation(cells / name / "eval", f"sweep/runs/{name}/train/model.pt", 0.5)
    stray = cells / "recall4_q_R_s6"  # an eval/ of another model stays a run of its own
    evaluation(stray / "eval", "elsewhere/model.pt", 0.5)
    warnings: list[str] = []
    runs = find_runs(tmp_path, warnings.append)
    assert warnings == []
    assert [(run.path.parent.name, run.script, run.seed) for run in runs] == [
        ("recall4_q_R_s4", "train_qnorm", 4), ("recall4_q_R_s5", "train_qnorm", 5),
        ("recall4_q_R_s6", "evaluate", None),
    ]  # fmt: skip
    assert runs[0].curve.y == (0.25, 0.5)
    assert runs[0].replicate_key == runs[1].replicate_key  # they differ in their seed only


def test_a_run_saved_with_a_warm_up_stage_reads_as_its_q_schedule(tmp_path):
    new = read_run(evolve_run(tmp_path / "new"))
    old = evolve_run(tmp_path / "old")
    saved = json.loads((old / "run.json").read_text())
    saved["config"] |= {"warmup_generations": 40, "warmup_q": 1.0}
    (old / "run.json").write_text(json.dumps(saved))
    assert read_run(old).config == {**new.config, "q_schedule": [[40, 1.0]]}
