"""The table of the SB3 baselines: every run's rows, by task, algorithm, seed input, adversary.

    python results/sb3/table.py results/sb3 > results/sb3/table.md

Reads each run folder's run.json and evaluation.json (scripts/sb3_baseline.py). Rows are
episode returns over the run's evaluation instances (higher is better).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from agents.reports.runs import STATISTICS
from agents.reports.tables import cell, markdown_table


def rows_of(folder: Path) -> list[list[str]]:
    """One table row per evaluation row of a run."""
    config = json.loads((folder / "run.json").read_text())["config"]
    evaluation = json.loads((folder / "evaluation.json").read_text())
    setup = [
        config["env"].removeprefix("RandAlg/"),
        config["algo"],
        "yes" if config["seed_obs"] else "no",
        config["adversary"],
        f"{config['timesteps']:,}",
    ]
    return [
        [*setup, name.removeprefix(f"{config['algo']}, "),
         *(cell(row[key], 3) for key in STATISTICS)]
        for name, row in evaluation.items()
        if name.startswith(f"{config['algo']}, ")  # not the exact references of a full set
    ]  # fmt: skip


def main(root: Path) -> None:
    """Prints the Markdown table of every evaluated run under ``root``."""
    folders = sorted(path.parent for path in root.rglob("evaluation.json"))
    header = ["env", "algorithm", "seed input", "adversary", "steps", "row"]
    body = [row for folder in folders for row in rows_of(folder)]
    print("\n".join(markdown_table([*header, "average", "95th pct", "worst"], body)))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "results/sb3"))
