"""The tasks: one folder each, registered by importing it here (the one line a new task adds).

A task (``agents.tasks.base.Task``) owns its env id, model presets, training defaults,
tokenization, loss, success predicate, evaluation set and classical baselines; see
``agents.tasks.registry`` for the lookups.
"""

from agents.tasks.base import SupervisedTask, Task
from agents.tasks.coloring import ColoringTask
from agents.tasks.grid import GridTask
from agents.tasks.recall import RecallTask
from agents.tasks.registry import TASKS, make_task, supervised_tasks, task_class, task_for_env

__all__ = [
    "TASKS",
    "ColoringTask",
    "GridTask",
    "RecallTask",
    "SupervisedTask",
    "Task",
    "make_task",
    "supervised_tasks",
    "task_class",
    "task_for_env",
]
