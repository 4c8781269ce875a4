"""The table of the memory runs: final quick-set figures, time and steps to reach the baseline.

    python results/memory/table.py results/memory/runs > results/memory/table.md
    python results/memory/table.py results/memory/recall > results/memory/recall/table.md

Reads each run folder's log.csv, run.json and model.pt (for the parameter count) and the
``done in`` line of ``<run>.train.out``. "reach" is the first evaluation step at which a run
has at least the final average and 95th percentile of the 2-block model of its variant and
preset (``*_L2``, seed 0).
"""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

from agents.reports.tables import markdown_table
from agents.runs.checkpoint import load_model

COLUMNS = ("success_average", "success_p95", "majority_5_p95", "majority_31_average",
           "majority_31_p95", "variance_average")  # fmt: skip


def evaluations(folder: Path) -> list[dict[str, float]]:
    """The log rows that carry an evaluation, as floats."""
    with open(folder / "log.csv") as file:
        rows = [row for row in csv.DictReader(file) if row["eval_success_average"]]
    return [{key: float(value) for key, value in row.items() if value} for row in rows]


def describe(folder: Path) -> dict[str, object]:
    """One run's set-up, final figures, wall and CPU time."""
    config = json.loads((folder / "run.json").read_text())["config"]
    model = load_model(folder / "model.pt")[0]
    rows = evaluations(folder)
    out = (folder.parent / f"{folder.name}.train.out").read_text()
    wall = re.search(r"done in ([0-9.]+) s", out)
    rounds = config["memory_rounds"] or 1
    return {
        "run": folder.name, "variant": config["variant"], "preset": config["preset"],
        "rounds": rounds,
        "blocks": model.config.n_layers * rounds,
        "params": sum(p.numel() for p in model.parameters()),
        "steps": int(rows[-1]["step"]), "wall": float(wall.group(1)) if wall else None,
        "cpu": rows[-1]["cpu"], "rows": rows, **{c: rows[-1][f"eval_{c}"] for c in COLUMNS},
    }  # fmt: skip


def reach(run: dict[str, object], reference: dict[str, object]) -> str:
    """The first evaluated step with the reference's final average and 95th percentile."""
    for row in run["rows"]:  # type: ignore[union-attr]
        if (row["eval_success_average"] >= reference["success_average"]
                and row["eval_success_p95"] >= reference["success_p95"]):  # fmt: skip
            return str(int(row["step"]))
    return "no"


def main(root: Path) -> None:
    """Print a markdown table per variant."""
    runs = [describe(f) for f in sorted(root.iterdir()) if (f / "model.pt").exists()]
    head = ["run", "T", "blocks", "params", *COLUMNS, "reach L2", "wall s", "cpu s"]
    for variant in sorted({r["variant"] for r in runs}):
        group = [r for r in runs if r["variant"] == variant]
        references = {r["preset"]: r for r in group if r["run"].endswith("_L2")}
        rows = []
        for r in group:
            reference = references.get(r["preset"])
            cells = [r["run"], r["rounds"], r["blocks"], r["params"],
                     *(f"{r[c]:.{4 if c.startswith('variance') else 3}f}" for c in COLUMNS),
                     reach(r, reference) if reference else "-", r["wall"], r["cpu"]]  # fmt: skip
            rows.append([str(c) for c in cells])
        print(f"\n{variant}\n")
        print("\n".join(markdown_table(head, rows)))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
