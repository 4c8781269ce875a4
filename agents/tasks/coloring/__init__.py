"""Distributed 3-coloring of cycles."""

from agents.tasks.coloring.task import ColoringTask
from agents.tasks.registry import register

register(ColoringTask)
