"""The 95th percentile and worst case of evolve.py runs against their wall time, as a PNG.

    .venv/bin/python results/grid/beyond_2h/plot_curve.py RUN_FOLDER [RUN_FOLDER ...] OUT.png

Reads each run's log.csv: the x axis sums the per-generation seconds (training time; the
evaluations every --eval-every generations are not counted), the y values are the
evaluations of the ES center. Horizontal lines mark the grid's classical references.
"""

from __future__ import annotations

import csv
import sys
from itertools import accumulate

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

REFERENCES = {  # worst case over the 24 treasure cells (BENCHMARKS.md, "Classical references")
    "game value (LP)": -17.85,
    "one of 4 sweeps by seed": -24.44,
    "best deterministic sweep": -26.0,
    "serpentine sweep": -32.0,
}


def plot_run(axis: plt.Axes, folder: str, prefix: str, color: str) -> None:
    """Draws one run's evaluated 95th percentile and worst case against its training minutes."""
    with open(f"{folder}/log.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    minutes = [s / 60 for s in accumulate(float(row["seconds"]) for row in rows)]
    evaluated = [(t, row) for t, row in zip(minutes, rows, strict=True) if row["eval_worst"]]
    for column, label, style in (("eval_worst", "worst case", "-"), ("eval_p95", "95th pct", "--")):
        axis.plot([t for t, _ in evaluated], [float(row[column]) for _, row in evaluated],
                  color=color, linestyle=style, label=f"{prefix}{label}")  # fmt: skip


def main() -> None:
    """Plots the runs' curves with the references."""
    *folders, out = sys.argv[1:]
    names = [folder.rstrip("/").split("/")[-1] for folder in folders]
    figure, axis = plt.subplots(figsize=(7, 4.2))
    for index, (folder, name) in enumerate(zip(folders, names, strict=True)):
        prefix = "trained agent, " if len(folders) == 1 else f"{name}, "
        plot_run(axis, folder, prefix, color=f"C{index}")
    styles = (("black", ":"), ("gray", "--"), ("gray", "-."), ("gray", ":"))
    for (name, value), (color, style) in zip(REFERENCES.items(), styles, strict=True):
        axis.axhline(value, color=color, linestyle=style, linewidth=1, label=name)
    axis.set(xlabel="training wall time (minutes)", ylabel="return (minus the steps)",
             title=f"{', '.join(names)}: ES center under its seeds")  # fmt: skip
    axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
