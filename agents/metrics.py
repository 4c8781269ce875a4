"""Evaluation metrics of a seeded model over an evaluation set (see docs/design.md, "Metrics").

Per instance, over S policy seeds: the seed-averaged argmax ``success`` and ``loss``, the
``majority_k`` success (the probability that the vote of k seeds drawn from the S is right,
estimated from random subsets; a fixed-seed model votes with k copies of its one prediction,
so its majority equals its success), the ``sampled`` control
(success probability when sampling the output distribution) and the predictive ``variance``
over seeds (of the per-unit probabilities, averaged over units: bits or vertex colors).
Over instances: the average, the 95th percentile (the worst-5 % boundary: the 5th percentile
of a score, the 95th of a loss or variance; ``numpy.percentile``, linear) and the worst case.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from agents.models.transformer import SeededTransformer
from agents.runs.compiler import compiled

if TYPE_CHECKING:  # the tasks import these metrics: no import cycle at run time
    from agents.tasks import SupervisedTask

MAJORITY = (5, 31)
SCORES = ("success", *(f"majority_{k}" for k in MAJORITY), "sampled")  # higher is better
COSTS = ("loss", "variance")  # summarised from the top: 95th percentile, maximum


def summarize(values: np.ndarray, higher_is_better: bool = True) -> dict[str, float]:
    """Average, 95th percentile (worst-5 % boundary) and worst case of per-instance values."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"values of shape {values.shape} are invalid; expected (n,), n >= 1")
    boundary = np.percentile(values, 5 if higher_is_better else 95, method="linear")
    worst = values.min() if higher_is_better else values.max()
    return {"average": float(values.mean()), "p95": float(boundary), "worst": float(worst)}


def seed_subsets(n_seeds: int, k: int, draws: int, generator: torch.Generator) -> Tensor:
    """``draws`` random subsets of ``k`` of ``n_seeds`` seed indices, (draws, k) int64.

    A fixed seed (``n_seeds == 1``) gives one subset of k copies of it, and ``k == n_seeds``
    one subset of all the seeds (every draw would vote alike).

    Raises:
        ValueError: Unless k is odd and ``k <= n_seeds`` or ``n_seeds == 1``.
    """
    if k < 1 or k % 2 == 0 or 1 < n_seeds < k:
        raise ValueError(f"majority of k={k} over S={n_seeds} seeds: expected odd k <= S or S=1")
    if n_seeds == 1:
        return torch.zeros(1, k, dtype=torch.long)
    if k == n_seeds:
        return torch.arange(k)[None]
    return torch.rand(draws, n_seeds, generator=generator).argsort(dim=1)[:, :k]


def majority_success(
    task: SupervisedTask, prediction: Tensor, batch: dict[str, Tensor], subsets: Tensor
) -> Tensor:
    """Per instance, the share of seed subsets whose majority vote is correct.

    With random subsets of k seeds (``seed_subsets``) it estimates the probability that the
    vote of k seeds is right, with resolution 1 / draws (not k / S as disjoint groups give).

    Args:
        task: Provides ``vote`` and ``correct``.
        prediction: Argmax predictions (B, S, ...).
        batch: The instances.
        subsets: (G, k) indices into the S seeds.

    Returns:
        (B,) float.
    """
    voters = prediction[:, subsets.to(prediction.device)]  # (B, G, k, ...)
    votes = task.vote(voters, dim=2).squeeze(2)  # (B, G, ...)
    return task.correct(votes, batch).float().mean(dim=1)


@torch.no_grad()
def score_instances(
    task: SupervisedTask,
    model: SeededTransformer,
    batch: dict[str, Tensor],
    policy_seed: Tensor,
    chunk: int = 16384,
    majority: Iterable[int] = MAJORITY,
    draws: int = 64,
    compile: bool = False,
) -> dict[str, np.ndarray]:
    """Per-instance metrics (see the module docstring) of ``model`` under the given seeds.

    Args:
        task: The task of the batch.
        model: The model, evaluated in no-grad mode.
        batch: The evaluation set, e.g. ``task.evaluation_set(rng)``.
        policy_seed: S seeds (one row for a fixed-seed model).
        chunk: About how many (instance, seed) sequences to run at once.
        majority: The numbers k of voting seeds; those above S > 1 are skipped.
        draws: Random subsets of k seeds per majority (the same for every instance).
        compile: Score each chunk through ``torch.compile`` (one compilation per chunk shape,
            some 20-30 s; then the coloring tasks' chunks run about 2x faster).

    Returns:
        ``{name: (n,) float64}`` for ``success``, ``majority_<k>``, ``sampled``, ``loss`` and
        ``variance``.
    """
    model.eval()
    n_seeds, generator = policy_seed.shape[0], torch.Generator().manual_seed(0)
    subsets = {
        k: seed_subsets(n_seeds, k, draws, generator)
        for k in majority
        if n_seeds == 1 or k <= n_seeds
    }
    score = compiled(score_chunk) if compile else score_chunk
    n = next(iter(batch.values())).shape[0]
    step = max(1, chunk // n_seeds)
    scores: dict[str, np.ndarray] = {}  # chunk results copied in, then freed: kept, they
    # would pin the heap above each chunk's temporaries and the memory would grow
    for start in range(0, n, step):
        part = {name: value[start : start + step] for name, value in batch.items()}
        for name, value in score(task, model, part, policy_seed, subsets).items():
            scores.setdefault(name, np.empty(n))[start : start + step] = value.numpy()
    return scores


def score_chunk(
    task: SupervisedTask,
    model: SeededTransformer,
    part: dict[str, Tensor],
    policy_seed: Tensor,
    subsets: dict[int, Tensor],
) -> dict[str, Tensor]:
    """``score_instances`` of the instances ``part``: every metric (b,), majority per subsets."""
    logits = task.logits(model, part, policy_seed)  # (b, S, ...)
    prediction = task.predict(logits)
    return {
        "success": task.correct(prediction, part).float().mean(dim=1),
        **{
            f"majority_{k}": majority_success(task, prediction, part, indices)
            for k, indices in subsets.items()
        },
        "sampled": task.sampled_success(logits, part).mean(dim=1),
        "loss": task.loss(logits, part).mean(dim=1),
        "variance": task.probabilities(logits).var(dim=1, correction=0).mean(dim=-1),
    }


def report(per_instance: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """``summarize`` every metric: scores from below, the loss and variance from above."""
    return {
        name: summarize(values, higher_is_better=name not in COSTS)
        for name, values in per_instance.items()
    }


def format_table(
    summary: dict[str, dict[str, float]], title: str = "", label: str = "metric", digits: int = 4
) -> str:
    """A plain-text table: one row per name, columns average, 95th percentile, worst."""
    lines = [title] if title else []
    width = max(len(label), *(len(name) for name in summary)) + 2
    lines.append(f"{label:<{width}}{'average':>10}{'95th pct':>10}{'worst':>10}")
    for name, row in summary.items():
        cells = "".join(f"{row[key]:>10.{digits}f}" for key in ("average", "p95", "worst"))
        lines.append(f"{name:<{width}}{cells}")
    return "\n".join(lines)


def plot_histogram(per_instance: dict[str, np.ndarray], path: str | Path, title: str) -> None:
    """The success histogram over instances (as the paper's Figure 1B), saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name for name in SCORES if name in per_instance and name != "sampled"]
    bins = np.linspace(0, 1, 21)
    figure, axis = plt.subplots(figsize=(6, 3.5))
    for name in names:
        values = per_instance[name]
        weights = np.full(values.shape, 1 / values.size)
        axis.hist(values, bins=bins, weights=weights, histtype="step", linewidth=1.5, label=name)
    axis.set(xlabel="success probability of an input", ylabel="fraction of inputs", title=title)
    axis.legend(loc="upper center")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
