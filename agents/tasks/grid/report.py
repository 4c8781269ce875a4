"""What a trained grid-world agent does: the first-visit heat map and its phase-1 paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agents.evolution.engine import Rollouts


def first_visit_times(rollouts: Rollouts, size: int, horizon: int) -> np.ndarray:
    """Mean first-visit step of each cell in phase 1 (size, size) indexed [x, y], capped.

    Averaged over all recorded episodes; a cell not visited in phase 1 counts as `horizon`
    (the paper's Figure 7C). The start cell is visited at step 0.
    """
    positions, phases = rollouts.positions, rollouts.phases  # (T, ..., 2), (T, ...)
    n_steps = positions.shape[0]
    cells = positions[..., 0] * size + positions[..., 1]  # (T, ...) flat cell index
    first = np.full((size * size, *phases.shape[1:]), float(horizon))
    for t in reversed(range(n_steps)):  # later steps first, so earlier visits overwrite them
        exploring = phases[t] == 0
        for cell in range(size * size):
            hit = exploring & (cells[t] == cell)
            first[cell][hit] = min(t + 1, horizon)
    first[0] = 0.0
    return first.reshape(size * size, -1).mean(axis=1).reshape(size, size)


def save_heat_map(times: np.ndarray, path: str | Path, title: str) -> None:
    """Writes the first-visit heat map (north up) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = times.T[::-1]  # rows from y = size - 1 down to 0, columns x
    fig, ax = plt.subplots(figsize=(4, 3.6))
    image = ax.imshow(grid, cmap="viridis", vmin=0, vmax=times.max())
    for (row, col), value in np.ndenumerate(grid):
        ax.text(col, row, f"{value:.0f}", ha="center", va="center", color="w", fontsize=8)
    ax.set_xticks(range(times.shape[0]))
    ax.set_yticks(range(times.shape[1]), labels=list(reversed(range(times.shape[1]))))
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, label="mean first-visit step (phase 1)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def trajectory_text(path_cells: np.ndarray, size: int) -> list[str]:
    """The phase-1 path as a grid of first-visit steps (north up); '..' for unvisited."""
    steps = {(0, 0): 0}
    for t, (x, y) in enumerate(path_cells, start=1):
        steps.setdefault((int(x), int(y)), t)
    return [
        " ".join(f"{steps[(x, y)]:2d}" if (x, y) in steps else " ." for x in range(size))
        for y in reversed(range(size))
    ]
