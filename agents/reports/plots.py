"""The PNG figures of a task's report: worst-case bars and learning curves (matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from agents.reports.replicates import Replicates
from agents.reports.runs import Rows, Run


def _pyplot():
    """Matplotlib's pyplot on the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def worst_case_bars(groups: Sequence[Replicates], classical: Rows, path: Path, title: str) -> None:
    """Horizontal bars of the worst case: agents (mean over seeds, 95 % interval) and classics."""
    plt = _pyplot()
    names, values, errors, colors = [], [], [], []
    for group in groups:
        for name, estimates in group.rows.items():
            worst = estimates["worst"]
            names.append(f"{group.label}: {name} (n={group.seeds[name]})")
            values.append(worst.mean)
            low = worst.mean if worst.low is None else worst.low
            high = worst.mean if worst.high is None else worst.high
            errors.append((worst.mean - low, high - worst.mean))
            colors.append("tab:blue")
    for name, row in classical.items():
        names.append(name)
        values.append(row["worst"])
        errors.append((0.0, 0.0))
        colors.append("tab:gray")
    width = 5 + 0.075 * max((len(name) for name in names), default=0)  # room for the labels
    figure, axis = plt.subplots(figsize=(width, 0.8 + 0.35 * len(names)))
    axis.barh(range(len(names)), values, color=colors,
              xerr=list(zip(*errors, strict=True)) if errors else None, capsize=3)  # fmt: skip
    axis.set_yticks(range(len(names)), names, fontsize=7)
    axis.invert_yaxis()
    axis.set(xlabel="worst case over instances (higher is better)", title=title)
    figure.tight_layout()
    figure.savefig(path, dpi=110, bbox_inches="tight")  # long labels are not cut off
    plt.close(figure)


def learning_curves(runs: Sequence[Run], labels: Sequence[str], path: Path, title: str) -> bool:
    """One panel per kind of log (x and y columns), a line per run; False if no run has one."""
    plt = _pyplot()
    panels: dict[tuple[str, str], list[tuple[Run, str]]] = {}
    for run, label in zip(runs, labels, strict=True):
        if run.curve is not None:
            panels.setdefault((run.curve.x_label, run.curve.y_label), []).append((run, label))
    if not panels:
        return False
    figure, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.8), squeeze=False)
    for axis, ((x_label, y_label), members) in zip(axes[0], panels.items(), strict=True):
        for run, label in members:
            seed = "?" if run.seed is None else run.seed
            axis.plot(run.curve.x, run.curve.y, linewidth=1, label=f"{label} seed {seed}")
        axis.set(xlabel=x_label, ylabel=y_label)
        axis.legend(fontsize=6)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True
