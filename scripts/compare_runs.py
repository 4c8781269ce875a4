"""Tabulate the evaluations of several q-norm runs, and plot a q sweep.

    python scripts/compare_runs.py results/qnorm/runs/*/eval.json
    python scripts/compare_runs.py results/qnorm/sweep/*/eval.json --plot sweep.png
    python scripts/compare_runs.py results/qnorm/nsweep/*/runs/*/eval/eval.json --plot n.png --x n

Reads the ``eval.json`` files that ``scripts/evaluate.py`` writes and prints one Markdown row
per run (sorted by task, size, q, training seed): average, 95th percentile and worst success,
the 95th percentiles of majority(5), majority(31), majority(155) (the vote of all evaluation
seeds; "-" when not evaluated) and sampled, and the predictive variance. Replicates (runs
whose task, training and model configurations are equal: they differ in their training seed)
get a second table, their mean with the range over seeds. With ``--plot`` it draws the 95th
percentiles and the predictive variance against q (log axis), the paper's picture of where
randomness appears, or with ``--x n`` against the task's size N (the paper's worst case
against N); replicates are drawn as their mean, with the range over seeds as error bars.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.reports.runs import evaluated_configs
from agents.reports.tables import markdown_table
from agents.runs.cli import flag, parse
from agents.supervised.trainer import TrainConfig
from agents.tasks import make_task

COLUMNS = (
    ("avg", "success", "average"),
    ("95th", "success", "p95"),
    ("worst", "success", "worst"),
    ("maj5 95th", "majority_5", "p95"),
    ("maj31 95th", "majority_31", "p95"),
    ("maj155 95th", "majority_155", "p95"),
    ("sampled 95th", "sampled", "p95"),
    ("variance", "variance", "average"),
)


@dataclass
class Args:
    """Command-line flags."""

    evaluations: list[str] = flag(help="eval.json files of scripts/evaluate.py", positional=True)
    plot: str | None = flag(None, "write the sweep's figure to this PNG")
    x: str = flag("q", "the figure's axis: q (log scale) or n (task size)", choices=("q", "n"))


def task_size(run: dict) -> int:
    """N of the task a run trained on."""
    return make_task(**run["task"]).size


def q_of(run: dict) -> float:
    """The exponent the run trained with (1 for the ERM variants)."""
    return TrainConfig(**run["train"]).effective_q


def train_seed(run: dict) -> str:
    """The training seed the evaluation records ("?" for evaluations that predate it)."""
    return "?" if run.get("train_seed") is None else str(run["train_seed"])


def load(paths: list[str]) -> list[dict]:
    """The evaluations, sorted by task name, size, q and training seed."""
    runs = []
    for path in paths:
        try:
            runs.append(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as error:
            raise ValueError(f"{path} is not a readable eval.json: {error}") from error
    return sorted(runs, key=lambda run: (
        run["task"]["name"], task_size(run), q_of(run), run.get("train_seed") or 0
    ))  # fmt: skip


def replicates(runs: list[dict]) -> list[list[dict]]:
    """The runs grouped by configuration (task, training, model), in order of appearance."""
    groups: dict[str, list[dict]] = {}
    for run in runs:
        key = json.dumps([run["task"], evaluated_configs(run)], sort_keys=True)
        groups.setdefault(key, []).append(run)
    return list(groups.values())


def configuration(run: dict) -> list[str]:
    """The table cells that name a run's configuration: task, N, variant, q, m, steps."""
    train = TrainConfig(**run["train"])
    seeds = "r0" if train.fixed_seed else str(train.n_seeds)
    head = [run["task"]["name"], task_size(run), train.variant, f"{train.effective_q:g}", seeds]
    return [str(cell) for cell in head + [train.steps]]


def values(runs: list[dict], metric: str, stat: str) -> list[float]:
    """The statistic of every run that evaluated the metric."""
    return [run["summary"][metric][stat] for run in runs if metric in run["summary"]]


def table(runs: list[dict]) -> str:
    """The Markdown table of the runs, one row each."""
    head = ["task", "N", "variant", "q", "m", "steps", "seed"] + [name for name, _, _ in COLUMNS]
    rows = [
        configuration(run) + [train_seed(run)]
        + [f"{v[0]:.3f}" if (v := values([run], metric, stat)) else "-"
           for _, metric, stat in COLUMNS]
        for run in runs
    ]  # fmt: skip
    return "\n".join(markdown_table(head, rows))


def replicates_table(groups: list[list[dict]]) -> str:
    """The Markdown table of configurations with several runs: mean [min, max] over seeds."""
    head = ["task", "N", "variant", "q", "m", "steps", "runs"] + [name for name, _, _ in COLUMNS]
    rows = []
    for group in groups:
        cells = configuration(group[0]) + [str(len(group))]
        for _, metric, stat in COLUMNS:
            v = values(group, metric, stat)
            some = f" ({len(v)} of {len(group)} runs)" if 0 < len(v) < len(group) else ""
            cells.append(f"{np.mean(v):.3f} [{min(v):.3f}, {max(v):.3f}]{some}" if v else "-")
        rows.append(cells)
    return "\n".join(markdown_table(head, rows))


def plot_sweep(groups: list[list[dict]], path: str, x: str = "q") -> None:
    """95th percentiles and predictive variance of the replicate groups against q (or N)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [q_of(group[0]) if x == "q" else task_size(group[0]) for group in groups]
    axis = {"xscale": "log", "xlabel": "q"} if x == "q" else {"xlabel": "N"}
    figure, (scores, spread) = plt.subplots(1, 2, figsize=(9, 3.5))

    def draw(axes: Any, metric: str, stat: str, label: str | None = None) -> None:
        """Each configuration's mean over its runs, the range over seeds as error bars."""
        per_group = [values(group, metric, stat) for group in groups]
        means = np.array([np.mean(v) for v in per_group])
        ranges = np.array([[means[i] - min(v), max(v) - means[i]] for i, v in enumerate(per_group)])
        axes.errorbar(xs, means, yerr=ranges.T, fmt="o-", capsize=3, label=label)

    for metric, label in (
        ("success", "success"),
        ("majority_31", "majority(31)"),
        ("sampled", "sampled"),
    ):
        draw(scores, metric, "p95", label)
    scores.set(**axis, ylabel="95th percentile", ylim=(-0.02, 1.02))
    scores.legend()
    draw(spread, "variance", "average")
    spread.set(**axis, ylabel="predictive variance (average)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(args: Args) -> None:
    """Print the table; plot when asked."""
    runs = load(args.evaluations)
    print(table(runs))
    groups = replicates(runs)
    if several := [group for group in groups if len(group) > 1]:
        print("\nReplicates (equal configurations): mean [min, max] over their runs\n")
        print(replicates_table(several))
    if args.plot:
        plot_sweep(groups, args.plot, args.x)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    try:
        main(parse(Args, __doc__))
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
