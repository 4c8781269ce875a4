"""Train a seeded transformer on any env with an evolution strategy (the main job).

    python scripts/evolve.py                                   # the grid world, a few minutes
    python scripts/evolve.py --q 1                             # ERM over treasure cells (E_R)
    python scripts/evolve.py --q inf --q-schedule 40:1 600:8   # q_R: ERM, q = 8, then q = inf
    python scripts/evolve.py --preset paper                    # the paper's PGPE and model
    python scripts/evolve.py --env-id RandAlg/GraphColoring-v0 # any registered env
    python scripts/evolve.py --resume runs/evolve              # continue a killed run
    python scripts/evolve.py --preset paper --max-minutes 120  # a wall-clock budget
    python scripts/evolve.py --backend ray --workers 2         # generations on Ray actors

Every generation, each candidate plays the same instances (all of them, or --instances fresh
samples) under the same m policy seeds; its fitness is minus the q-norm over instances of its
seed-averaged loss (q = inf: the exact oblivious adversary). The run folder gets log.csv,
checkpoint.pt (every --checkpoint-every generations, atomically), TensorBoard events (when
installed) and at the end evaluation.json: the trained agent under random seeds, under its
best fixed seed and with those seeds mixed by the game's linear program, against the task's
classical algorithms (and, for the grid world, a heat map); a model with a seed pool also gets
seed_mixture.json, the LP's weights of its seeds.
Config flags left unset take the preset's values; on --resume, the saved run's.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from agents.baselines.game_value import best_mixture
from agents.evolution.ray_evaluator import RayEvaluator, import_ray
from agents.evolution.report import final_evaluation
from agents.evolution.run import ALGORITHMS, Evolution, EvolveConfig
from agents.metrics import format_table, summarize
from agents.runs.checkpoint import check_env_id
from agents.runs.cli import flag, parse
from agents.runs.folder import RunFolder, default_run_dir
from agents.runs.interrupt import StopRequest
from agents.runs.logger import RunLogger
from agents.tasks import task_for_env

SCRIPT = "evolve"
CONFIG_FLAGS = (
    "env_kwargs", "model_preset", "model", "player", "instances", "algorithm", "q", "m",
    "fixed_seed", "mix_seeds", "seed", "generations", "q_schedule",
)  # fmt: skip
EVAL_COLUMNS = ("eval_average", "eval_p95", "eval_worst")


@dataclass
class Args:
    """Command-line flags; config flags left unset keep the preset's (or saved run's) value."""

    env_id: str = flag("RandAlg/GridExplore-v0", "the env: a registered RandAlg/ id")
    preset: str = flag("default", "the task's evolution preset (grid world: default, paper)")
    out: str | None = flag(None, "run folder (default: a fresh folder under runs/)")
    resume: str | None = flag(None, "continue the run in this folder")
    overwrite: bool = flag(False, "replace the run already in --out")
    checkpoint_every: int = flag(10, "generations between checkpoints", minimum=1)
    eval_every: int = flag(25, "generations between evaluations of the ES center", minimum=1)
    eval_seeds: int = flag(100, "policy seeds of each evaluation", minimum=1, maximum=10_000)
    threads: int | None = flag(None, "torch CPU threads (default: torch's choice)", minimum=1)
    progress: bool = flag(True, "show a progress bar")
    env_kwargs: dict | None = flag(None, "JSON env kwargs, e.g. '{\"size\": 6}'")
    model_preset: str | None = flag(None, "the task's model preset (e.g. paper, small)")
    model: dict | None = flag(None, "JSON model config overrides, e.g. '{\"width\": 64}'")
    player: dict | None = flag(None, "JSON player options, e.g. '{\"visited_map\": false}'")
    instances: int | None = flag(None, "instances sampled per generation (none: all)", minimum=1)
    algorithm: str | None = flag(None, "the evolution strategy", choices=sorted(ALGORITHMS))
    popsize: int | None = flag(None, "candidates per generation", minimum=2, maximum=100_000)
    q: float | None = flag(None, "norm over instances: 1 (ERM) .. inf", minimum=1, allow_inf=True)
    q_schedule: list[str] | None = flag(
        None,
        "norms before --q as UNTIL:Q stages, e.g. 40:1 600:8 (q = 1 before generation 40, "
        "then 8 before 600, then --q); none: --q throughout",
    )
    m: int | None = flag(None, "policy seeds per generation", minimum=1, maximum=10_000)
    fixed_seed: bool | None = flag(None, "one fixed policy seed (the r0 variants)")
    mix_seeds: bool | None = flag(
        None,
        "at q = inf, rank candidates by the best mixture of their seed pool (LP); the "
        "logged evaluations then draw the seeds by that mixture too",
    )
    seed: int | None = flag(None, "seed of weights, ES, policy seeds", minimum=0, maximum=2**32 - 1)
    generations: int | None = flag(None, "ES generations of the run", minimum=1, maximum=10**7)
    max_minutes: float | None = flag(None, "wall-clock budget, then report", minimum=0.01)
    backend: str = flag("local", "where generations are played", choices=("local", "ray"))
    ray_address: str | None = flag(None, "Ray cluster to join (default: a local one)")
    workers: int = flag(2, "Ray actors of --backend ray, one CPU each", minimum=1)

    def __post_init__(self) -> None:
        if self.resume and (self.out or self.overwrite):
            raise ValueError("--resume continues a run in its folder: drop --out and --overwrite")
        if self.ray_address and self.backend != "ray":
            raise ValueError("--ray-address joins a Ray cluster: add --backend ray")


def requested_config(args: Args) -> tuple[EvolveConfig, dict[str, Any]]:
    """The preset with the flags applied, and the flags given (to check against a resume)."""
    task = task_for_env(check_env_id(args.env_id))
    if args.preset not in task.evolution_presets:
        known = sorted(task.evolution_presets)
        raise ValueError(f"--preset {args.preset!r}: {task.name} has the presets {known}")
    given = {name: getattr(args, name) for name in CONFIG_FLAGS if getattr(args, name) is not None}
    if "q_schedule" in given:
        given["q_schedule"] = parse_schedule(given["q_schedule"])
    config = EvolveConfig(env_id=args.env_id, **task.evolution_presets[args.preset])
    config = dataclasses.replace(config, **given)
    if args.popsize is not None:
        config = dataclasses.replace(config, es={**config.es, "popsize": args.popsize})
        given["es.popsize"] = args.popsize
    return config, given


def parse_schedule(stages: list[str | None]) -> tuple[tuple[int, float], ...]:
    """``--q-schedule 40:1 600:8`` as ((40, 1.0), (600, 8.0)); ``none`` (None) for no stages."""
    if stages == [None]:
        return ()
    try:
        pairs = [stage.split(":") for stage in stages]
        return tuple((int(until), float(norm)) for until, norm in pairs)
    except (AttributeError, ValueError):  # a stage without ":" (or "none" among stages)
        raise ValueError(
            f"--q-schedule {' '.join(stages)}: expected UNTIL:Q stages, e.g. 40:1 600:8"
        ) from None


def schedule_text(config: EvolveConfig) -> str:
    """The norms of a run in words, e.g. "1 to generation 40, 8 to generation 600, then inf"."""
    stages = [f"{norm:g} to generation {until}" for until, norm in config.q_schedule]
    return ", ".join([*stages, f"then {config.q:g}"]) if stages else f"{config.q:g}"


def resume(folder: RunFolder, given: dict[str, Any]) -> tuple[Evolution, int]:
    """The saved run and its generation; refuses flags that contradict the saved run.

    ``--generations`` may set a new total (to extend a run, or end it at its checkpoint).
    """
    run, generation = Evolution.load(folder.path / "checkpoint.pt")
    total = given.pop("generations", run.config.generations)
    if total < generation:
        raise ValueError(f"--generations {total}: the run already has {generation} generations")
    run.config = dataclasses.replace(run.config, generations=total)
    saved = {**dataclasses.asdict(run.config), "es.popsize": run.config.es.get("popsize")}
    conflicts = [
        f"--{key.replace('_', '-')}: the run has {saved[key]!r}, you asked {value!r}"
        for key, value in given.items()
        if saved[key] != value
    ]
    if conflicts:
        raise ValueError(f"{folder.path} holds another run:\n  " + "\n  ".join(conflicts))
    return run, generation


def center_summary(run: Evolution, n_seeds: int) -> dict[str, float]:
    """Average, 95th percentile and worst case over instances of the center's expected return.

    Its seeds are drawn uniformly, or by their best mixture in a `mix_seeds` run.
    """
    returns = run.center_returns(n_seeds).numpy()  # (I, n_seeds)
    weights = best_mixture(returns.T) if run.config.mix_seeds else None
    return {f"eval_{k}": v for k, v in summarize(np.average(returns, 1, weights)).items()}


def final_report(run: Evolution, out: Path, n_seeds: int) -> None:
    """Prints and saves the evaluation table, then what the task shows of the agent."""
    rows, rollouts = final_evaluation(run, n_seeds)
    count = rollouts.returns.shape[1]
    title = f"\nReturns over {count} {run.task.name} instances (higher is better):"
    print(format_table(rows, title, label="agent", digits=2))
    (out / "evaluation.json").write_text(json.dumps(rows, indent=2))
    saved = ["evaluation.json", "log.csv", "checkpoint.pt"]
    if run.plays_whole_pool:
        weights = best_mixture(rollouts.returns[0].numpy().T)  # over the pool's rows
        (out / "seed_mixture.json").write_text(json.dumps({"pool_weights": weights.tolist()}))
        saved.append("seed_mixture.json")
    for line in ["", *run.task.describe(rollouts, out)]:
        print(line)
    print(f"Saved {out / saved[0]}, {', '.join(saved[1:])}")


def main(args: Args) -> None:
    """Build or resume the run, loop over generations, log, checkpoint, report."""
    if args.backend == "ray":
        import_ray()  # says how to install Ray before any work starts
    if args.threads:
        torch.set_num_threads(args.threads)
    config, given = requested_config(args)
    if args.resume:
        folder = RunFolder.resume(args.resume, script=SCRIPT)
        run, start = resume(folder, given)
    else:
        run, start = Evolution(config), 0
        out = Path(args.out) if args.out else default_run_dir(SCRIPT)
        folder = RunFolder.create(out, SCRIPT, config.to_json(), overwrite=args.overwrite)
    with folder:
        if args.backend == "ray":
            run.evaluator = RayEvaluator(run.config, args.workers, args.ray_address)
        with closing(run.evaluator):
            evolve(run, start, folder.path, args)
            final_report(run, folder.path, args.eval_seeds)


def evolve(run: Evolution, start: int, out: Path, args: Args) -> None:
    """The generation loop; Ctrl-C checkpoints and stops after the current generation."""
    config = run.config
    print(
        f"{config.algorithm} on {config.env_id}: {run.es.dim:,} parameters, popsize "
        f"{run.es.popsize}, q={schedule_text(config)}, m={config.m}, generations "
        f"{start}..{config.generations}"
        + (", seeds mixed by the LP at q=inf" if config.mix_seeds else "")
    )
    bar = tqdm(range(start, config.generations), initial=start, total=config.generations,
               disable=not args.progress)  # fmt: skip
    log = RunLogger(
        out, step_key="generation", optional=EVAL_COLUMNS, resume_from_step=start or None
    )
    deadline = time.monotonic() + 60 * args.max_minutes if args.max_minutes else math.inf
    with log, StopRequest() as stop:
        for generation in bar:
            begin, done = time.perf_counter(), generation + 1
            metrics = {"generation": done, **run.step()}
            if done % args.eval_every == 0 or done == config.generations:
                metrics.update(center_summary(run, args.eval_seeds))
            log.log({**metrics, "seconds": time.perf_counter() - begin})
            bar.set_postfix(
                mean=f"{metrics['fitness_mean']:.2f}", best=f"{metrics['fitness_max']:.2f}",
                worst_case=f"{metrics['worst_case_best']:.2f}",
            )  # fmt: skip
            out_of_time = time.monotonic() >= deadline
            if (
                done % args.checkpoint_every == 0 or done == config.generations
                or stop.requested or out_of_time
            ):  # fmt: skip
                run.save(out / "checkpoint.pt", done)
            if stop.requested:
                raise SystemExit(f"interrupted at generation {done}: continue with --resume {out}")
            if out_of_time:
                bar.close()
                print(f"--max-minutes spent at generation {done}: continue with --resume {out}")
                break


if __name__ == "__main__":
    try:
        main(parse(Args, __doc__))
    except (ValueError, OSError, ImportError) as error:
        raise SystemExit(f"error: {error}") from None
