"""Finding and reading the runs of the training scripts under a folder.

A run is a folder with ``run.json`` (``agents.runs.folder``) written by ``scripts/evolve.py``
(its ``evaluation.json`` and ``log.csv``), ``scripts/sb3_baseline.py`` (``evaluation.json``,
``progress.csv``) or ``scripts/train_qnorm.py`` (``log.csv``, and ``eval.json`` once
``scripts/evaluate.py`` has been run with ``--out`` the run folder, or into a sibling ``eval``
folder, as each cell of ``scripts/sweep.py`` has ``train`` and ``eval``). A folder holding only
an ``eval.json`` of ``scripts/evaluate.py`` is a q-norm run too, with the training seed that
the evaluation records (unknown in evaluations written before it was recorded).
Runs that cannot be read are skipped with a warning that names the file.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.evolution.run import with_q_schedule
from agents.models.memory import model_config
from agents.supervised.trainer import TrainConfig
from agents.tasks import task_for_env

Rows = dict[str, dict[str, float]]  # summaries (average, p95, worst) by agent
STATISTICS = ("average", "p95", "worst")
# flags that do not change what a run learns: runs differing only in these are replicates
RUNTIME_FLAGS = {
    "evolve": {"seed"},
    "sb3_baseline": {"seed", "out", "overwrite", "threads", "progress"},
    "train_qnorm": {
        "seed", "out", "resume", "overwrite", "threads", "progress", "checkpoint_every",
        "log_every", "compile", "eval_every", "eval_seeds",
    },
}  # fmt: skip
SUPERVISED_ROWS = ("success", "majority_")  # the eval.json metrics a q-norm run shows


@dataclass(frozen=True)
class Curve:
    """A learning curve: ``y`` against ``x``, read from a run's CSV log."""

    x_label: str
    y_label: str
    x: tuple[float, ...]
    y: tuple[float, ...]


@dataclass(frozen=True)
class Run:
    """One evaluated run.

    Attributes:
        path: The run folder.
        script: The script that made it (evolve, sb3_baseline, train_qnorm, evaluate).
        task_spec: ``{"name": ..., **env_kwargs}``, as ``make_task`` takes it.
        config: The training config with the seed and runtime flags removed.
        seed: The training seed (None when unknown).
        rows: The evaluation's summaries by row name (agents, and baselines if saved).
        curve: The learning curve, if the log has one.
        figures: Figures the run saved, by kind (``heatmap``, ``histogram``).
        checkpoint: The model an ``eval.json`` evaluated, as it names it.
    """

    path: Path
    script: str
    task_spec: dict[str, Any]
    config: dict[str, Any]
    seed: int | None
    rows: Rows
    curve: Curve | None
    figures: dict[str, Path]
    checkpoint: str | None = None

    @property
    def replicate_key(self) -> str:
        """Equal for runs that differ only in their training seed."""
        return json.dumps([self.script, self.task_spec, self.config], sort_keys=True)


def find_runs(root: str | Path, warn: Callable[[str], None]) -> list[Run]:
    """Every readable, evaluated run under ``root``, sorted by path; ``warn`` hears the rest.

    Raises:
        ValueError: If ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder; expected a folder holding run folders")
    folders = sorted({path.parent for pattern in ("run.json", "eval.json")
                      for path in root.rglob(pattern)})  # fmt: skip
    runs, evaluated = [], {}  # one row per model: (checkpoint, config) -> first folder
    for folder in folders:
        if _cell_evaluation(folder):  # read with the training run beside it
            continue
        try:
            run = read_run(folder)
        except (OSError, ValueError, KeyError, TypeError) as error:
            warn(f"skipping {folder}: {error}")
            continue
        model = (run.checkpoint, run.replicate_key)
        if run.checkpoint is not None and model in evaluated:
            first = evaluated[model]
            warn(f"skipping {folder}: its eval.json evaluates {run.checkpoint}, as {first} does")
            continue
        evaluated[model] = folder
        runs.append(run)
    return runs


def read_run(folder: Path) -> Run:
    """The run in ``folder``.

    Raises:
        ValueError: Naming the file, if a file of the run is missing or corrupt.
    """
    if not (folder / "run.json").exists():
        evaluation = read_json(folder / "eval.json")
        return _evaluate_run(folder, evaluation, evaluation.get("train_seed"), config=None)
    info = read_json(folder / "run.json")
    script, config = info.get("script"), info.get("config")
    if script not in RUNTIME_FLAGS or not isinstance(config, dict):
        raise ValueError(f"{folder / 'run.json'} is no run of {sorted(RUNTIME_FLAGS)}")
    if script == "train_qnorm":
        evaluation = _qnorm_evaluation(folder)
        if evaluation is None:
            raise ValueError(
                f"not evaluated yet: run scripts/evaluate.py {folder / 'model.pt'} --out {folder}"
            )
        return _evaluate_run(folder, read_json(evaluation), config["seed"], config)
    if script == "evolve":  # a warm-up stage of older runs reads as the schedule it is
        config = with_q_schedule(config)
    env_id, env_key = ("env_id", "env_kwargs") if script == "evolve" else ("env", "env_kwargs")
    task_class = task_for_env(config[env_id])
    log = "log.csv" if script == "evolve" else "progress.csv"
    columns = ("generation", "return_mean") if script == "evolve" else (
        "time/total_timesteps", "rollout/ep_rew_mean")  # fmt: skip
    return Run(
        path=folder,
        script=script,
        task_spec={"name": task_class.name, **(config[env_key] or {})},
        config=_without(config, RUNTIME_FLAGS[script]),
        seed=config["seed"],
        rows=read_rows(folder / "evaluation.json"),
        curve=read_curve(folder / log, *columns),
        figures=_figures(folder, heatmap="heatmap.png"),
    )


def _qnorm_evaluation(folder: Path) -> Path | None:
    """The eval.json of the q-norm run in ``folder``: its own, or a sweep cell's ``eval``."""
    if (folder / "eval.json").exists():
        return folder / "eval.json"
    sibling = folder.parent / "eval" / "eval.json"
    try:
        checkpoint = Path(read_json(sibling)["checkpoint"])
    except (ValueError, KeyError, TypeError):
        return None
    same = checkpoint.parts[-3:] == (*folder.parts[-2:], "model.pt")  # as recorded, any root
    return sibling if same else None


def _cell_evaluation(folder: Path) -> bool:
    """Whether ``folder`` is the ``eval`` of a sweep cell, whose ``train`` run it evaluates."""
    train = folder.parent / "train"
    return (train / "run.json").exists() and _qnorm_evaluation(train) == folder / "eval.json"


def _evaluate_run(
    folder: Path, evaluation: dict[str, Any], seed: int | None, config: dict[str, Any] | None
) -> Run:
    """A q-norm run from the ``eval.json`` of ``scripts/evaluate.py`` (and its run.json)."""
    summary, n_seeds = evaluation["summary"], evaluation["n_seeds"]
    rows = {
        (f"{name} (m={n_seeds})" if name == "success" else name): _checked(summary[name], folder)
        for name in summary
        if name.startswith(SUPERVISED_ROWS)
    }
    script = "evaluate" if config is None else "train_qnorm"
    base = evaluated_configs(evaluation) if config is None else (
        _without(config, RUNTIME_FLAGS["train_qnorm"]))  # fmt: skip
    return Run(
        path=folder,
        script=script,
        task_spec=dict(evaluation["task"]),
        config={**base, "eval_seeds": n_seeds, "eval_majority": _majority(summary)},
        seed=seed,
        rows=rows,
        curve=read_curve(folder / "log.csv", "step", "success"),
        figures=_figures(folder, histogram="histogram.png"),
        checkpoint=evaluation["checkpoint"],
    )


def evaluated_configs(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The training and model configs of an ``eval.json``, every default filled in.

    Evaluations written before a config field existed lack it; filled in, equal recipes compare
    equal.
    """
    train = TrainConfig(**evaluation["train"]).to_dict()
    return {"train": train, "model": dataclasses.asdict(model_config(**evaluation["model"]))}


def read_json(path: Path) -> Any:
    """The JSON in ``path``.

    Raises:
        ValueError: Naming the file, if it is missing or not JSON.
    """
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path} is missing") from None
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is unreadable or corrupt: {error}") from None


def read_rows(path: Path) -> Rows:
    """The ``evaluation.json`` of evolve.py or sb3_baseline.py: summaries by row name."""
    rows = read_json(path)
    if not isinstance(rows, dict) or not rows:
        raise ValueError(f"{path} is corrupt: expected summaries by agent name")
    return {name: _checked(row, path) for name, row in rows.items()}


def _checked(row: Any, where: Path) -> dict[str, float]:
    """A summary with finite average, p95 and worst."""
    if not isinstance(row, dict) or not all(
        isinstance(row.get(key), int | float) and math.isfinite(row[key]) for key in STATISTICS
    ):
        raise ValueError(f"{where} is corrupt: a row {row!r} lacks a finite {STATISTICS}")
    return {key: float(row[key]) for key in STATISTICS}


def read_curve(path: Path, x_column: str, y_column: str) -> Curve | None:
    """The rows of a CSV log where both columns hold numbers; None without any."""
    if not path.exists():
        return None
    with path.open(newline="") as file:
        points = [
            (float(row[x_column]), float(row[y_column]))
            for row in csv.DictReader(file)
            if row.get(x_column) and row.get(y_column)
        ]
    if not points:
        return None
    x, y = zip(*points, strict=True)
    return Curve(x_column, y_column, x, y)


def _majority(summary: dict[str, Any]) -> list[int]:
    """The numbers of voting seeds an evaluation has majority rows for."""
    return sorted(int(name.removeprefix("majority_")) for name in summary
                  if name.startswith("majority_"))  # fmt: skip


def _without(config: dict[str, Any], names: set[str]) -> dict[str, Any]:
    return {key: value for key, value in config.items() if key not in names}


def _figures(folder: Path, **names: str) -> dict[str, Path]:
    return {kind: folder / name for kind, name in names.items() if (folder / name).exists()}
