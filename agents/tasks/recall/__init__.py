"""Associative recall."""

from agents.tasks.recall.task import RecallTask
from agents.tasks.registry import register

register(RecallTask)
