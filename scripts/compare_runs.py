"""Tabulate the evaluations of several q-norm runs, and plot a q sweep.

    python scripts/compare_runs.py results/qnorm/runs/*/eval.json
    python scripts/compare_runs.py results/qnorm/sweep/*/eval.json --plot sweep.png
    python scripts/compare_runs.py results/qnorm/nsweep/*/runs/*/eval/eval.json --plot n.png --x n

Reads the ``eval.json`` files that ``scripts/evaluate.py`` writes and prints one Markdown row
per run (sorted by task, size, q): average, 95th percentile and worst success, the 95th
percentiles of majority(5), majority(31), majority(155) (the vote of all evaluation seeds;
"-" when not evaluated) and sampled, and the predictive variance. With ``--plot`` it draws
the 95th percentiles and the predictive variance against q (log axis), the paper's picture of
where randomness appears, or with ``--x n`` against the task's size N (the paper's worst case
against N).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

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


def load(paths: list[str]) -> list[dict]:
    """The evaluations, sorted by task name, size and q."""
    runs = []
    for path in paths:
        try:
            runs.append(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as error:
            raise ValueError(f"{path} is not a readable eval.json: {error}") from error
    return sorted(runs, key=lambda run: (run["task"]["name"], task_size(run), q_of(run)))


def row(run: dict) -> str:
    """One Markdown table row."""
    train = TrainConfig(**run["train"])
    seeds = "r0" if train.fixed_seed else str(train.n_seeds)
    size = task_size(run)
    head = [run["task"]["name"], size, train.variant, f"{train.effective_q:g}", seeds]
    cells = [str(cell) for cell in head + [train.steps]]
    summary = run["summary"]
    cells += [
        f"{summary[metric][stat]:.3f}" if metric in summary else "-" for _, metric, stat in COLUMNS
    ]
    return "| " + " | ".join(cells) + " |"


def table(runs: list[dict]) -> str:
    """The Markdown table of the runs."""
    head = ["task", "N", "variant", "q", "m", "steps"] + [name for name, _, _ in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + [row(run) for run in runs])


def plot_sweep(runs: list[dict], path: str, x: str = "q") -> None:
    """95th percentiles and predictive variance against q (or N, with ``x="n"``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [q_of(run) if x == "q" else task_size(run) for run in runs]
    axis = {"xscale": "log", "xlabel": "q"} if x == "q" else {"xlabel": "N"}
    figure, (scores, spread) = plt.subplots(1, 2, figsize=(9, 3.5))
    for metric, label in (
        ("success", "success"),
        ("majority_31", "majority(31)"),
        ("sampled", "sampled"),
    ):
        scores.plot(xs, [run["summary"][metric]["p95"] for run in runs], "o-", label=label)
    scores.set(**axis, ylabel="95th percentile", ylim=(-0.02, 1.02))
    scores.legend()
    spread.plot(xs, [run["summary"]["variance"]["average"] for run in runs], "o-")
    spread.set(**axis, ylabel="predictive variance (average)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(args: Args) -> None:
    """Print the table; plot when asked."""
    runs = load(args.evaluations)
    print(table(runs))
    if args.plot:
        plot_sweep(runs, args.plot, args.x)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    try:
        main(parse(Args, __doc__))
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
