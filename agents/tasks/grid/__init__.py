"""Grid-world exploration."""

from agents.tasks.grid.task import GridTask
from agents.tasks.registry import register

register(GridTask)
