"""Run folders: one run per folder, locked by the process running it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agents.runs.folder import RunFolder, default_run_dir

REPO = Path(__file__).resolve().parents[3]
CONFIG = {"generations": 3, "q": "inf"}


def hold_lock(path: Path) -> subprocess.Popen:
    """Another process that runs in ``path`` until its stdin closes (or it is killed)."""
    code = textwrap.dedent(f"""
        import sys
        from agents.runs.folder import RunFolder

        with RunFolder.create({str(path)!r}, "evolve", {{}}):
            print("locked", flush=True)
            sys.stdin.read()
    """)
    process = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert process.stdout.readline() == b"locked\n"
    return process


def test_create_writes_the_marker_and_resume_reads_it(tmp_path):
    path = tmp_path / "runs" / "evolve"
    with RunFolder.create(path, "evolve", CONFIG) as folder:
        assert folder.path == path and folder.script == "evolve" and folder.config == CONFIG
    assert json.loads((path / "run.json").read_text()) == {"config": CONFIG, "script": "evolve"}
    with RunFolder.resume(path, script="evolve") as folder:
        assert folder.config == CONFIG


def test_two_processes_cannot_run_in_one_folder(tmp_path):
    path = tmp_path / "run"
    other = hold_lock(path)
    try:
        message = f"{path} is in use by another running process (pid {other.pid})"
        with pytest.raises(ValueError, match=re.escape(message)):
            RunFolder.resume(path)
        with pytest.raises(ValueError, match="in use by another running process"):
            RunFolder.create(path, "evolve", CONFIG, overwrite=True)
    finally:
        other.communicate(b"")
    assert other.returncode == 0
    with RunFolder.resume(path):
        with pytest.raises(ValueError, match="in use"):
            RunFolder.resume(path)  # a second open in this process is refused as well


def test_a_killed_run_leaves_its_folder_resumable(tmp_path):
    other = hold_lock(tmp_path / "run")
    other.kill()
    other.wait()
    with RunFolder.resume(tmp_path / "run", script="evolve") as folder:
        assert folder.config == {}


def test_create_refuses_a_folder_holding_a_run_unless_overwrite(tmp_path):
    path = tmp_path / "run"
    with RunFolder.create(path, "evolve", CONFIG):
        (path / "log.csv").write_text("generation\n1\n")
        (path / "tensorboard").mkdir()
    message = f"{path} already holds a run: pass --resume {path} to continue it"
    with pytest.raises(ValueError, match=re.escape(message) + ".*--out.*--overwrite"):
        RunFolder.create(path, "evolve", {"generations": 5})
    assert (path / "log.csv").exists()
    with RunFolder.create(path, "train_qnorm", {"steps": 5}, overwrite=True) as folder:
        assert folder.script == "train_qnorm"
    assert sorted(p.name for p in path.iterdir()) == [".lock", "run.json"]


def test_create_refuses_a_folder_with_other_files_even_with_overwrite(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    for overwrite in (False, True):
        with pytest.raises(ValueError, match=r"is not empty and holds no run .*'notes.txt'"):
            RunFolder.create(tmp_path, "evolve", CONFIG, overwrite=overwrite)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_resume_refuses_a_folder_without_a_run_or_of_another_script(tmp_path):
    with pytest.raises(ValueError, match="holds no run to resume"):
        RunFolder.resume(tmp_path / "missing")
    with pytest.raises(ValueError, match="holds no run to resume"):
        RunFolder.resume(tmp_path)
    RunFolder.create(tmp_path / "run", "evolve", CONFIG).close()
    with pytest.raises(ValueError, match="holds a run of 'evolve', not of 'train_qnorm'"):
        RunFolder.resume(tmp_path / "run", script="train_qnorm")
    (tmp_path / "run" / "run.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="run.json is corrupt"):
        RunFolder.resume(tmp_path / "run")


def test_an_unwritable_folder_is_refused_naming_it(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    for path in (blocker, blocker / "run"):
        with pytest.raises(ValueError, match=re.escape(f"run folder {path} is not a writable")):
            RunFolder.create(path, "evolve", CONFIG)


def test_a_config_that_is_not_json_is_refused_and_the_lock_released(tmp_path):
    with pytest.raises(ValueError, match="config of the run .* is not JSON-able"):
        RunFolder.create(tmp_path, "evolve", {"when": object()})
    RunFolder.create(tmp_path, "evolve", CONFIG).close()


def test_default_run_dir_picks_the_first_free_name(tmp_path):
    assert default_run_dir("evolve", tmp_path) == tmp_path / "evolve"
    RunFolder.create(tmp_path / "evolve", "evolve", CONFIG).close()
    assert default_run_dir("evolve", tmp_path) == tmp_path / "evolve-2"
    (tmp_path / "evolve-2").mkdir()
    assert default_run_dir("evolve", tmp_path) == tmp_path / "evolve-3"
