"""Report every run under a folder: one Markdown page per task, with tables and PNG figures.

    python scripts/report.py runs                      # writes reports/<task>.md
    python scripts/report.py results --out docs/reports --baseline-seeds 100

Finds the runs of scripts/evolve.py (run.json, evaluation.json, log.csv), scripts/sb3_baseline.py
(run.json, evaluation.json, progress.csv) and scripts/train_qnorm.py (run.json, log.csv and
the eval.json that scripts/evaluate.py writes with --out the run folder; a folder with only an
eval.json counts too, its seed unknown), groups them by task (the env and its kwargs) and
writes <out>/<task>.md: each run's agent rows as saved by its evaluation (average, 95th
percentile and worst case over instances; q-norm runs: success and majority votes), the
task's classical algorithms played on its evaluation instances and its exact references, and
the replicates (runs that differ only in their training seed) as the mean over seeds with a
95 % percentile-bootstrap interval (SB3 configurations named by algorithm, features, seed
input and adversary). Figures go to <out>/<task>/: worst-case bars, learning
curves, and copies of the runs' grid heat maps and success histograms. Rows are read from the
runs' evaluation files, never re-evaluated: evolve and SB3 rows are episode returns, q-norm
rows success probabilities. Unreadable runs are skipped with a warning naming the file.
"""

from __future__ import annotations

import shutil
import sys
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from agents.baselines.play import baseline_rows
from agents.reports.plots import learning_curves, worst_case_bars
from agents.reports.replicates import MIN_SEEDS, RESAMPLES, Replicates, group_replicates
from agents.reports.runs import Rows, Run, find_runs
from agents.reports.tables import classical_table, replicates_table, runs_table
from agents.runs.cli import flag, parse
from agents.sb3.evaluation import evaluation_instances
from agents.tasks import Task, make_task


@dataclass
class Args:
    """Command-line flags."""

    root: str = flag(help="the folder to search for runs (recursively)", positional=True)
    out: str = flag("reports", "the folder of the reports")
    baseline_instances: int = flag(1024, "classical algorithms: all instances up to this many, "
                                   "else a fixed sample", minimum=1, maximum=10**6)  # fmt: skip
    baseline_seeds: int = flag(32, "policy seeds of the randomized classical algorithms",
                               minimum=1, maximum=10_000)  # fmt: skip
    digits: int = flag(4, "decimals in the tables", minimum=0, maximum=12)


def warn(message: str) -> None:
    """A warning on stderr."""
    print(f"warning: {message}", file=sys.stderr)


def task_name(task: Task) -> str:
    """The report's name of a task: its name and size, then env kwargs off their defaults."""
    defaults = make_task(task.name).env.dynamics
    others = "".join(
        f"_{key}{value}"
        for key, value in sorted(task.env_kwargs.items())
        if key != task.size_kwarg and getattr(defaults, key, None) != value
    )
    return f"{task.name}{task.size}{others}"


def by_task(runs: list[Run]) -> dict[str, tuple[Task, list[Run]]]:
    """The runs grouped by the task they trained on; a run whose task fails is skipped."""
    tasks: dict[str, tuple[Task, list[Run]]] = {}
    for run in runs:
        try:
            task = make_task(**run.task_spec)
        except (ValueError, TypeError) as error:
            warn(f"skipping {run.path}: its task {run.task_spec} cannot be made: {error}")
            continue
        tasks.setdefault(task_name(task), (task, []))[1].append(run)
    return tasks


def sb3_label(run: Run) -> str:
    """An SB3 run's configuration in brief: its algorithm, features, seed input and adversary."""
    config = run.config
    features = [] if config["features"] == "flat" else [f"features={config['features']}"]
    seed_obs = "true" if config["seed_obs"] else "false"
    parts = [f"algo={config['algo']}", *features, f"seed_obs={seed_obs}"]
    return " ".join([run.script, *parts, f"adversary={config['adversary']}"])


def readable_labels(groups: list[Replicates]) -> list[Replicates]:
    """SB3 configurations labelled in brief (`sb3_label`) where that still tells them apart.

    The generic label names every flag that varies among a script's runs, so SB3 runs of
    different algorithms list each other's algorithm arguments; the brief one keeps what a
    reader compares. Configurations whose brief labels coincide keep the generic one.
    """
    brief = [sb3_label(group.runs[0]) if group.runs[0].script == "sb3_baseline" else None
             for group in groups]  # fmt: skip
    counts = Counter(brief)
    return [
        replace(group, label=label) if label is not None and counts[label] == 1 else group
        for group, label in zip(groups, brief, strict=True)
    ]


def classical_rows(task: Task, args: Args) -> tuple[Rows, Rows, str]:
    """The task's classical algorithms and exact references, and on which instances."""
    instances, complete = evaluation_instances(task.generator, args.baseline_instances)
    rows = baseline_rows(task, instances, args.baseline_seeds)
    which = "all" if complete else "a fixed sample of"
    return rows, task.references(), f"{which} {len(instances)} instances"


def write_report(name: str, task: Task, runs: list[Run], args: Args) -> Path:
    """Writes ``<out>/<name>.md`` and its figures; returns the page's path."""
    out, root = Path(args.out), Path(args.root)
    figures = out / name
    figures.mkdir(parents=True, exist_ok=True)
    baselines, references, instances = classical_rows(task, args)
    classical = baselines | references
    agents = [[row for row in run.rows if row not in classical] for run in runs]
    groups = readable_labels(group_replicates(runs, agents))
    labels = {run.path: group.label for group in groups for run in group.runs}
    env = f"{task.env_id} {task.env_kwargs}" if task.env_kwargs else task.env_id
    lines = [
        f"# {name}: {env}", "",
        f"{len(runs)} runs under `{root}`. Rows are read from each run's evaluation file: "
        "episode returns for evolve and SB3 runs, success probabilities over the task's "
        "evaluation set for q-norm runs (higher is better). The 95th percentile is the "
        "worst-5 % boundary over instances.", "",
        "## Runs", "", *runs_table(runs, agents, root, args.digits), "",
        f"## Classical algorithms ({instances}, {args.baseline_seeds} policy seeds)", "",
        *classical_table(baselines, references, args.digits), "",
        "## Replicates", "",
        f"Mean over training seeds [95 % percentile-bootstrap interval of the mean, {RESAMPLES:,} "
        f"resamples]; fewer than {MIN_SEEDS} seeds gives an optimistic interval, one seed none.",
        "", *replicates_table(groups, args.digits), "",
        "## Figures", "",
    ]  # fmt: skip
    worst_case_bars(groups, classical, figures / "worst_case.png", f"{name}: worst case")
    lines.append(f"![worst case]({name}/worst_case.png)")
    run_labels = [labels[run.path] for run in runs]
    if learning_curves(runs, run_labels, figures / "curves.png", f"{name}: learning curves"):
        lines.append(f"![learning curves]({name}/curves.png)")
    for run in runs:
        for kind, source in run.figures.items():
            copy = f"{kind}_{'_'.join(run.path.relative_to(root).parts) or 'root'}.png"
            shutil.copyfile(source, figures / copy)
            lines.append(f"![{kind} of {run.path.relative_to(root)}]({name}/{copy})")
    page = out / f"{name}.md"
    page.write_text("\n".join(lines) + "\n")
    return page


def main(args: Args) -> None:
    """Find, group, write."""
    runs = find_runs(args.root, warn)
    if not runs:
        raise ValueError(
            f"no evaluated runs under {args.root}: expected folders with run.json of "
            "scripts/evolve.py, scripts/sb3_baseline.py or scripts/train_qnorm.py (with the "
            "eval.json of scripts/evaluate.py)"
        )
    for name, (task, task_runs) in by_task(runs).items():
        page = write_report(name, task, task_runs, args)
        print(f"{name}: {len(task_runs)} runs -> {page}")


if __name__ == "__main__":
    try:
        main(parse(Args, __doc__))
    except (ValueError, OSError) as error:
        raise SystemExit(f"error: {error}") from None
