"""The 95th percentile and worst case of an evolve.py run against its wall time, as a PNG.

    .venv/bin/python results/grid/beyond_2h/plot_curve.py RUN_FOLDER OUT.png

Reads the run's log.csv: the x axis sums the per-generation seconds (training time; the
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


def main() -> None:
    """Plots one run's curve with the references."""
    folder, out = sys.argv[1], sys.argv[2]
    with open(f"{folder}/log.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    minutes = [s / 60 for s in accumulate(float(row["seconds"]) for row in rows)]
    evaluated = [(t, row) for t, row in zip(minutes, rows, strict=True) if row["eval_worst"]]
    figure, axis = plt.subplots(figsize=(7, 4.2))
    for column, label in (("eval_p95", "95th percentile"), ("eval_worst", "worst case")):
        axis.plot([t for t, _ in evaluated], [float(row[column]) for _, row in evaluated],
                  label=f"trained agent, {label}")  # fmt: skip
    styles = (":", "--", "-.", (0, (1, 3)))
    for (name, value), style in zip(REFERENCES.items(), styles, strict=True):
        axis.axhline(value, color="gray", linestyle=style, linewidth=1, label=name)
    axis.set(xlabel="training wall time (minutes)", ylabel="return (minus the steps)",
             title=f"{folder.rstrip('/').split('/')[-1]}: ES center under its seeds")  # fmt: skip
    axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(out, dpi=110)


if __name__ == "__main__":
    main()
