"""The run log: appended CSV rows, fixed columns, truncation on resume."""

from __future__ import annotations

import csv
import importlib.util

import pytest

from agents.runs.logger import RunLogger

HAS_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None


def rows_of(path):
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def log_steps(run_dir, steps, resume_from_step=None):
    with RunLogger(
        run_dir, step_key="generation", optional=["eval"], resume_from_step=resume_from_step
    ) as log:
        for step in steps:
            row = {"generation": step, "loss": step / 4}
            log.log({**row, "eval": step * 10} if step % 2 == 0 else row)


def test_rows_are_appended_and_flushed_one_at_a_time(tmp_path):
    with RunLogger(tmp_path) as log:
        log.log({"step": 1, "loss": 0.5})
        first = (tmp_path / "log.csv").read_text()
        inode = (tmp_path / "log.csv").stat().st_ino
        log.log({"step": 2, "loss": 0.25})
        second = (tmp_path / "log.csv").read_text()
        assert (tmp_path / "log.csv").stat().st_ino == inode
    assert first == "step,loss\n1,0.5\n"
    assert second == first + "2,0.25\n"


def test_columns_are_the_first_row_then_optional_ones_and_missing_cells_are_empty(tmp_path):
    log_steps(tmp_path, [1, 2, 3])
    assert (tmp_path / "log.csv").read_text().splitlines()[0] == "generation,loss,eval"
    assert rows_of(tmp_path / "log.csv") == [
        {"generation": "1", "loss": "0.25", "eval": ""},
        {"generation": "2", "loss": "0.5", "eval": "20"},
        {"generation": "3", "loss": "0.75", "eval": ""},
    ]


def test_bad_rows_are_refused(tmp_path):
    with RunLogger(tmp_path) as log:
        log.log({"step": 1, "loss": 0.5})
        with pytest.raises(ValueError, match=r"columns \['accuracy'\] .* declare them"):
            log.log({"step": 2, "accuracy": 1.0})
        with pytest.raises(ValueError, match="'step' is None; expected an int"):
            log.log({"loss": 0.5})
        with pytest.raises(ValueError, match="'step' is True; expected an int"):
            log.log({"step": True})
        with pytest.raises(ValueError, match="step 1 does not follow 1"):
            log.log({"step": 1, "loss": 0.5})
    with pytest.raises(ValueError, match="is closed"):
        log.log({"step": 2})
    assert len(rows_of(tmp_path / "log.csv")) == 1


def test_a_resumed_log_equals_an_uninterrupted_one(tmp_path):
    for folder in ("whole", "resumed"):
        (tmp_path / folder).mkdir()
    log_steps(tmp_path / "whole", range(1, 7))
    log_steps(tmp_path / "resumed", range(1, 6))  # interrupted after step 5...
    log_steps(tmp_path / "resumed", range(4, 7), resume_from_step=3)  # ...checkpointed at 3
    whole = (tmp_path / "whole" / "log.csv").read_text()
    assert (tmp_path / "resumed" / "log.csv").read_text() == whole


def test_resuming_drops_a_row_torn_by_a_killed_writer(tmp_path):
    log_steps(tmp_path, range(1, 4))
    with (tmp_path / "log.csv").open("a") as file:
        file.write("1")  # the start of the row of step 14: its step would read as 1
    log_steps(tmp_path, [4], resume_from_step=3)
    assert [row["generation"] for row in rows_of(tmp_path / "log.csv")] == ["1", "2", "3", "4"]


def test_resuming_keeps_the_columns_and_checks_the_step_order(tmp_path):
    with RunLogger(tmp_path) as log:
        log.log({"step": 10, "loss": 1.0})
        log.log({"step": 20, "loss": 0.5})
    with RunLogger(tmp_path, optional=["eval"], resume_from_step=15) as log:
        with pytest.raises(ValueError, match="step 10 does not follow 10"):
            log.log({"step": 10, "loss": 1.0})
        log.log({"step": 30, "eval": 2})
    assert (tmp_path / "log.csv").read_text() == "step,loss,eval\n10,1.0,\n30,,2\n"


def test_resuming_without_a_log_starts_one_and_a_log_without_steps_is_refused(tmp_path):
    log_steps(tmp_path, [4], resume_from_step=3)
    assert [row["generation"] for row in rows_of(tmp_path / "log.csv")] == ["4"]
    with pytest.raises(ValueError, match=r"log.csv has no 'step' column: \['generation'"):
        RunLogger(tmp_path, resume_from_step=3)


def test_tensorboard_scalars_are_written_exactly_when_tensorboard_is_installed(tmp_path):
    log_steps(tmp_path, [1, 2])
    assert (tmp_path / "tensorboard").is_dir() == HAS_TENSORBOARD
    if HAS_TENSORBOARD:
        assert any((tmp_path / "tensorboard").iterdir())
