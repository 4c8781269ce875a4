"""The committed grid runs' final centers, their seeds drawn uniformly, fixed, or mixed by the LP.

    .venv/bin/python results/grid/seed_mixtures/table.py > results/grid/seed_mixtures/table.md

Each run's center plays all 24 treasure cells under its evaluation seeds (a pooled model: its
whole pool; otherwise the 100 seeds of `scripts/evolve.py`'s final evaluation), and
`agents.evolution.report.trained_rows` gives the three agents of the final table. The last
line pools the policies of every q-norm run with a seed pool (all but the E_R runs): what the
learned policies could reach together, mixed by the same linear program.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from agents.baselines.game_value import game_value
from agents.evolution.report import trained_rows
from agents.evolution.run import Evolution

GRID = Path(__file__).resolve().parent.parent  # results/grid
RUNS = [
    "beyond_2h/pool16", "beyond_schedule/pool16",
    *(f"repro_schedule/pop64/q_R_seed{seed}" for seed in range(5)),
    *(f"repro_schedule/q_R_seed{seed}" for seed in range(5)),
    "repro20/q_R", *(f"repro20/q_R_seed{seed}" for seed in range(1, 5)),
    "repro20/E_R", *(f"repro20/E_R_seed{seed}" for seed in range(1, 5)),
    "paper_2h/q_R", "paper_2h/E_R",
]  # fmt: skip
EVAL_SEEDS = 100  # scripts/evolve.py's default


def cells(row: dict[str, float]) -> str:
    """Average / 95th / worst of a summary row."""
    return " / ".join(f"{row[key]:.2f}" for key in ("average", "p95", "worst"))


def main() -> None:
    """Prints the Markdown table."""
    torch.set_num_threads(1)
    print("| run | generations | random seeds | best fixed seed | seeds mixed by the LP |")
    print("|---|---:|---|---|---|")
    pooled = []
    for name in RUNS:
        run, generation = Evolution.load(GRID / name / "checkpoint.pt")
        returns = run.center_returns(EVAL_SEEDS).numpy()  # (cells, seeds)
        uniform, fixed, mixed = trained_rows(returns).values()
        print(f"| {name} (m={returns.shape[1]}) | {generation} | {cells(uniform)} | "
              f"{cells(fixed)} | {cells(mixed)} |")  # fmt: skip
        if "E_R" not in name and run.model.policy_seed_pool is not None:
            pooled.append(returns)
    union = np.concatenate(pooled, axis=1)
    solution = game_value(union.T)
    print(f"\nThe {union.shape[1]} policies of the {len(pooled)} pooled q-norm runs together, "
          f"mixed by the LP: worst case {solution.value:.2f} ({len(solution.support)} "
          f"policies in the support); their best coin flip {solution.best_pair_value:.2f}, "
          f"their best single policy {solution.best_pure_value:.2f}.")  # fmt: skip


if __name__ == "__main__":
    main()
