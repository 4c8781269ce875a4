"""Train a seeded transformer on the grid world with an evolution strategy (the main job).

    python scripts/evolve.py                          # the default preset: a few minutes
    python scripts/evolve.py --q 1 --out runs/E_R     # ERM over treasure cells (E_R)
    python scripts/evolve.py --preset paper           # the paper's PEPG and model
    python scripts/evolve.py --resume runs/evolve     # continue a killed run

Every generation, each candidate plays all treasure cells under the same m policy seeds; its
fitness is minus the q-norm over cells of its seed-averaged steps (q=inf: the exact oblivious
adversary). The run writes `log.csv`, `checkpoint.pt` (every K generations, atomically),
`evaluation.json`, `heatmap.png` and TensorBoard events (when installed) into `--out`.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from agents.evolution.run import ALGORITHMS, PRESETS, EvolveConfig, GridEvolution
from agents.metrics import summarize
from agents.runs.runtime import keep_freed_memory
from agents.tasks.grid.report import (
    classical_returns,
    evaluation_table,
    first_visit_times,
    format_rows,
    save_heat_map,
    trajectory_text,
)


@dataclasses.dataclass
class Args:
    """Command-line arguments; config flags left as None keep the preset's (or run's) value."""

    preset: str = "default"
    out: str = "runs/evolve"
    resume: str | None = None
    checkpoint_every: int = 10  # generations between checkpoints
    eval_every: int = 25  # generations between evaluations of the ES center
    eval_seeds: int = 100  # policy seeds of each evaluation
    threads: int | None = None  # torch threads (default: torch's choice)
    env_id: str | None = None
    env_kwargs: str | None = None  # JSON, e.g. '{"size": 6}'
    algorithm: str | None = None
    q: float | None = None
    m: int | None = None
    popsize: int | None = None
    generations: int | None = None
    model: str | None = None  # JSON overrides of the grid preset, e.g. '{"width": 64}'
    fixed_seed: bool | None = None
    seed: int | None = None


def parse_args() -> Args:
    """Parses the command line into `Args`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default", choices=sorted(PRESETS))
    parser.add_argument("--out", default=Args.out)
    parser.add_argument("--resume", metavar="DIR", help="continue the run saved in DIR")
    parser.add_argument("--checkpoint-every", type=int, default=Args.checkpoint_every)
    parser.add_argument("--eval-every", type=int, default=Args.eval_every)
    parser.add_argument("--eval-seeds", type=int, default=Args.eval_seeds)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--env-id")
    parser.add_argument("--env-kwargs", help="JSON object of env kwargs")
    parser.add_argument("--algorithm", choices=sorted(ALGORITHMS))
    parser.add_argument("--q", type=float, help="norm over treasure cells: 1 (ERM) .. inf")
    parser.add_argument("--m", type=int, help="policy seeds per generation")
    parser.add_argument("--popsize", type=int)
    parser.add_argument("--generations", type=int)
    parser.add_argument("--model", help="JSON object of TransformerConfig overrides")
    parser.add_argument("--fixed-seed", action="store_const", const=True, help="r0 variant")
    parser.add_argument("--seed", type=int)
    return Args(**vars(parser.parse_args()))


def requested_config(args: Args) -> tuple[EvolveConfig, dict[str, Any]]:
    """The preset with the flags applied, and the flags given (to check against a resume)."""
    given: dict[str, Any] = {}
    for name in ("env_id", "algorithm", "q", "m", "generations", "fixed_seed", "seed"):
        if getattr(args, name) is not None:
            given[name] = getattr(args, name)
    for name in ("env_kwargs", "model"):
        if getattr(args, name) is not None:
            given[name] = json.loads(getattr(args, name))
    config = dataclasses.replace(PRESETS[args.preset], **given)
    if args.popsize is not None:
        config = dataclasses.replace(config, es={**config.es, "popsize": args.popsize})
        given["es.popsize"] = args.popsize
    return config, given


def resume(run_dir: Path, given: dict[str, Any]) -> tuple[GridEvolution, int]:
    """The saved run and its generation; refuses flags that contradict the saved run.

    `--generations` may set a new total (to extend a run, or end it at its checkpoint).
    """
    run, generation = GridEvolution.load(run_dir / "checkpoint.pt")
    total = given.pop("generations", run.config.generations)
    if total < generation:
        raise ValueError(f"--generations {total}: the run already has {generation} generations")
    run.config = dataclasses.replace(run.config, generations=total)
    saved = {**dataclasses.asdict(run.config), "es.popsize": run.config.es.get("popsize")}
    conflicts = [
        f"--{key}: the run has {saved[key]!r}, you asked {value!r}"
        for key, value in given.items()
        if saved[key] != value
    ]
    if conflicts:
        raise ValueError(f"{run_dir} holds another configuration:\n  " + "\n  ".join(conflicts))
    return run, generation


def open_log(path: Path, keep_until: int) -> tuple[Any, csv.DictWriter | None]:
    """Opens the CSV log for appending, dropping rows after generation `keep_until`."""
    rows = []
    if path.exists():
        with path.open() as file:
            rows = [row for row in csv.DictReader(file) if int(row["generation"]) <= keep_until]
    file = path.open("w", newline="")
    writer = None
    if rows:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return file, writer


def tensorboard(run_dir: Path) -> Any:
    """A TensorBoard writer when tensorboard is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))


def evaluate(run: GridEvolution, n_seeds: int) -> dict[str, float]:
    """Average, 95th percentile and worst case over cells of the center's mean return."""
    returns = run.center_returns(n_seeds)  # (I, n_seeds)
    return {f"eval_{k}": v for k, v in summarize(returns.mean(dim=1).numpy()).items()}


def final_report(run: GridEvolution, run_dir: Path, n_seeds: int) -> None:
    """Prints and saves the evaluation table, the heat map and a few trajectories."""
    seeds = run.evaluation_seeds(n_seeds)
    rollouts = run.engine.play(run.es.center[None], run.cells, seeds, record=True)
    rows = evaluation_table(rollouts.returns[0].numpy())
    sweep, random_sweep = classical_returns(
        run.config.env_id, run.config.env_kwargs, run.cells, n_seeds
    )
    rows["serpentine sweep (deterministic)"] = summarize(sweep)
    rows[f"one of 4 sweeps by seed (m={n_seeds})"] = summarize(random_sweep)
    print(f"\nReturns over all {len(run.cells)} treasure cells (higher is better):")
    print(format_rows(rows))
    (run_dir / "evaluation.json").write_text(json.dumps(rows, indent=2))
    dynamics = run.dynamics
    times = first_visit_times(rollouts, dynamics.size, dynamics.horizon)
    save_heat_map(times, run_dir / "heatmap.png", "first visit, trained agent")
    cell = len(run.cells) - 1  # the far corner: the whole sweep is visible
    where = tuple(run.cells[cell].tolist())
    print(f"\nPhase-1 paths to the treasure at {where} under 3 seeds (step of first visit):")
    blocks = []
    for seed in range(min(3, seeds.shape[0])):
        exploring = rollouts.phases[:, 0, cell, seed] == 0
        blocks.append(trajectory_text(rollouts.positions[exploring, 0, cell, seed], dynamics.size))
    for lines in zip(*blocks, strict=True):
        print("    ".join(lines))
    print(f"\nSaved {run_dir}/evaluation.json, heatmap.png, log.csv, checkpoint.pt")


def main(args: Args) -> None:
    """Build or resume the run, loop over generations, log, checkpoint, report."""
    keep_freed_memory()
    if args.threads:
        torch.set_num_threads(args.threads)
    config, given = requested_config(args)
    run_dir = Path(args.resume or args.out)
    if not args.resume and (run_dir / "checkpoint.pt").exists():
        raise ValueError(f"{run_dir} already holds a run: --resume it or choose another --out")
    run, start = resume(run_dir, given) if args.resume else (GridEvolution(config), 0)
    config = run.config
    run_dir.mkdir(parents=True, exist_ok=True)
    log_file, writer = open_log(run_dir / "log.csv", keep_until=start)
    board = tensorboard(run_dir)
    print(
        f"{config.algorithm} on {config.env_id}: {run.es.dim:,} parameters, popsize "
        f"{run.es.popsize}, q={config.q}, m={config.m}, generations {start}..{config.generations}"
    )
    progress = tqdm(range(start, config.generations), initial=start, total=config.generations)
    for generation in progress:
        begin = time.perf_counter()
        metrics = {"generation": generation + 1, **run.step()}
        if (generation + 1) % args.eval_every == 0 or generation + 1 == config.generations:
            metrics.update(evaluate(run, args.eval_seeds))
        metrics["seconds"] = time.perf_counter() - begin
        if writer is None:
            columns = [*metrics, "eval_average", "eval_p95", "eval_worst"]
            writer = csv.DictWriter(log_file, fieldnames=columns, restval="")
            writer.writeheader()
        writer.writerow(metrics)
        log_file.flush()
        if board is not None:
            for key, value in metrics.items():
                board.add_scalar(key, value, generation + 1)
        progress.set_postfix(
            mean=f"{metrics['fitness_mean']:.1f}", best=f"{metrics['fitness_max']:.1f}",
            worst_case=f"{metrics['worst_case_best']:.1f}",
        )  # fmt: skip
        if (generation + 1) % args.checkpoint_every == 0 or generation + 1 == config.generations:
            run.save(run_dir / "checkpoint.pt", generation + 1)
    log_file.close()
    final_report(run, run_dir, args.eval_seeds)


if __name__ == "__main__":
    try:
        main(parse_args())
    except KeyboardInterrupt:
        raise SystemExit("interrupted: continue with --resume from the last checkpoint") from None
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
