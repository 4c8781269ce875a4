"""The Markdown of a task's report: the runs' rows, the replicates, the classical algorithms."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from agents.reports.replicates import MIN_SEEDS, Estimate, Replicates
from agents.reports.runs import STATISTICS, Rows, Run

HEADER = ("average", "95th pct", "worst")


def cell(value: float, digits: int) -> str:
    """A number as the tables print it."""
    return f"{value:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """The lines of a Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def runs_table(
    runs: Sequence[Run], agents: Sequence[Sequence[str]], root: Path, digits: int
) -> list[str]:
    """Each run's agent rows as its evaluation file has them."""
    rows = [
        [str(run.path.relative_to(root)), run.script, _seed(run), name,
         *(cell(run.rows[name][key], digits) for key in STATISTICS)]
        for run, names in zip(runs, agents, strict=True)
        for name in names
    ]  # fmt: skip
    return markdown_table(["run", "script", "seed", "agent", *HEADER], rows)


def classical_table(baselines: Rows, references: Rows, digits: int) -> list[str]:
    """The task's classical algorithms (played) and exact references (computed)."""
    rows = [
        [kind, name, *(cell(row[key], digits) for key in STATISTICS)]
        for kind, table in (("classical", baselines), ("exact reference", references))
        for name, row in table.items()
    ]
    return markdown_table(["kind", "algorithm", *HEADER], rows)


def replicates_table(groups: Sequence[Replicates], digits: int) -> list[str]:
    """Per configuration and agent: the mean over training seeds with its 95 % interval."""
    rows = []
    for group in groups:
        for name, estimates in group.rows.items():
            seeds = group.seeds[name]
            note = f"fewer than {MIN_SEEDS} seeds" if seeds < MIN_SEEDS else ""
            cells = [interval_cell(estimates[key], digits) for key in STATISTICS]
            rows.append([group.label, name, str(seeds), *cells, note])
    return markdown_table(["configuration", "agent", "seeds", *HEADER, "note"], rows)


def interval_cell(estimate: Estimate, digits: int) -> str:
    """``mean [low, high]``, or the mean alone for one seed."""
    if estimate.low is None or estimate.high is None:
        return cell(estimate.mean, digits)
    low, high = cell(estimate.low, digits), cell(estimate.high, digits)
    return f"{cell(estimate.mean, digits)} [{low}, {high}]"


def _seed(run: Run) -> str:
    return "?" if run.seed is None else str(run.seed)
