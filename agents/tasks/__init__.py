"""The supervised tasks: tokenization, loss, success predicate and majority vote per task.

A task turns env-generator instances into named tensors (a ``Batch``) and runs a
``SeededTransformer`` on them under S policy seeds; every per-instance quantity has shape
(B, S). ``make_task`` builds one from its ``spec`` (as stored in a checkpoint).
"""

from __future__ import annotations

from typing import Any

from agents.tasks.coloring.task import ColoringTask
from agents.tasks.recall.task import RecallTask

Task = RecallTask | ColoringTask
TASKS = {"recall": RecallTask, "coloring": ColoringTask}

__all__ = ["ColoringTask", "RecallTask", "TASKS", "Task", "make_task", "task_size"]


def make_task(name: str, **sizes: Any) -> Task:
    """The task ``name`` ("recall" or "coloring") with its size arguments.

    Example: ``make_task("recall", n_pairs=15)``, ``make_task(**task.spec)``.
    """
    if name not in TASKS:
        raise ValueError(f"task {name!r} is unknown; expected one of {sorted(TASKS)}")
    return TASKS[name](**sizes)


def task_size(spec: dict[str, Any]) -> int:
    """N of a task ``spec``: the number of pairs (recall) or of vertices (coloring)."""
    return spec.get("n_pairs", spec.get("n_vertices"))
