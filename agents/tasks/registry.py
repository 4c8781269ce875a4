"""The task registry: every task registers its class once; everything else looks it up.

register(RecallTask)                      # in agents/tasks/recall/__init__.py
make_task("recall", n_pairs=15)           # a task from its name and env kwargs
make_task(**checkpoint_metadata["task"])  # a task from its saved spec
task_for_env("RandAlg/GraphColoring-v0")  # the task class that plays an env
"""

from __future__ import annotations

from typing import Any

from gymnasium import error as gym_error
from gymnasium.envs.registration import parse_env_id

from agents.tasks.base import SupervisedTask, Task

TASKS: dict[str, type[Task]] = {}


def register(task_class: type[Task]) -> type[Task]:
    """Adds ``task_class`` under its ``name`` (usable as a class decorator).

    Raises:
        ValueError: If the name or the env id is taken by another task.
    """
    for other in TASKS.values():
        if other is not task_class and task_class.env_id == other.env_id:
            raise ValueError(f"env {task_class.env_id!r} already has the task {other.name!r}")
    if TASKS.get(task_class.name, task_class) is not task_class:
        raise ValueError(f"task name {task_class.name!r} is taken by {TASKS[task_class.name]}")
    TASKS[task_class.name] = task_class
    return task_class


def task_class(name: str) -> type[Task]:
    """The registered task class ``name``.

    Raises:
        ValueError: If no task has that name.
    """
    if name not in TASKS:
        raise ValueError(f"task {name!r} is unknown; expected one of {sorted(TASKS)}")
    return TASKS[name]


def make_task(name: str, **env_kwargs: Any) -> Task:
    """The task ``name`` on its env made with ``env_kwargs`` (validated by the env)."""
    return task_class(name)(**env_kwargs)


def task_for_env(env_id: str) -> type[Task]:
    """The task class registered for ``env_id`` (a ``RandAlg/...`` id).

    An outdated version of a task's env (``RandAlg/AssociativeRecall-v0`` in older checkpoints)
    maps to that task, which plays the current version: versions differ in observation keys,
    not in their dynamics.

    Raises:
        ValueError: If no task plays that env.
    """
    for task in TASKS.values():
        if task.env_id == env_id:
            return task
    for task in TASKS.values():
        if _unversioned(task.env_id) == _unversioned(env_id):
            return task
    known = sorted(task.env_id for task in TASKS.values())
    raise ValueError(f"env {env_id!r} has no task; expected one of {known}")


def _unversioned(env_id: str) -> tuple[str | None, str] | None:
    """The namespace and name of an env id, or None if it is malformed."""
    try:
        return parse_env_id(env_id)[:2]
    except gym_error.Error:
        return None


def supervised_tasks() -> list[str]:
    """Names of the tasks the gradient (q-norm) pipeline can train."""
    return sorted(name for name, task in TASKS.items() if issubclass(task, SupervisedTask))
