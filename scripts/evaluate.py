"""Evaluate a q-norm checkpoint: success, 95th percentile, worst case, majority, sampled.

    python scripts/evaluate.py results/qnorm/runs/recall15_q_R_q100_m30_s0/model.pt
    python scripts/evaluate.py runs/qnorm/model.pt --majority 5 31 155 --out runs/eval-155
    python scripts/evaluate.py runs/qnorm/coloring10_q_R_q10_m10_s0/model.pt --compile true

The evaluation set is the task's full set (recall: every query position x every query value x
16 fillings of the other values; coloring: all (N-1)!/2 cycles). A random-seed model runs under
--seeds policy seeds (155 = 5 groups of 31 = 31 groups of 5), a fixed-seed model under its r0;
majority(k) for each --majority k (k = --seeds: the vote of all seeds). Prints a table and
writes eval.json (summary and set-up) and histogram.png (per-input success) into --out.
--compile true scores through torch.compile: the coloring evaluation (all 181,440 cycles of
C_10 x 155 seeds) about 2x faster, after a compilation of some 20-30 s.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from agents.metrics import MAJORITY, format_table, plot_histogram, report, score_instances
from agents.runs.allocator import keep_freed_memory
from agents.runs.checkpoint import load_model
from agents.runs.cli import flag, parse
from agents.runs.folder import default_run_dir
from agents.supervised.trainer import TrainConfig
from agents.tasks import SupervisedTask, make_task


@dataclass
class Args:
    """Command-line flags."""

    checkpoint: str = flag(help="model.pt of scripts/train_qnorm.py", positional=True)
    seeds: int = flag(155, "policy seeds per input for a random-seed model", minimum=1)
    majority: list[int] = flag(list(MAJORITY), "odd numbers k of voting seeds", minimum=1)
    eval_seed: int = flag(0, "seed of the evaluation set and policy seeds", minimum=0)
    out: str | None = flag(None, "output folder (default: a fresh runs/evaluate folder)")
    overwrite: bool = flag(False, "replace an evaluation already in --out")
    threads: int = flag(1, "torch CPU threads", minimum=1, maximum=256)
    compile: bool = flag(False, "torch.compile the scoring (coloring ~2x faster, after ~30 s)")

    def __post_init__(self) -> None:
        for k in self.majority:
            if k % 2 == 0 or k > self.seeds:
                raise ValueError(f"--majority {k}: expected odd numbers <= --seeds {self.seeds}")


def output_folder(args: Args) -> Path:
    """The folder to write into, refusing to replace an evaluation without --overwrite."""
    out = Path(args.out) if args.out else default_run_dir("evaluate")
    if (out / "eval.json").exists() and not args.overwrite:
        raise ValueError(f"{out} already holds eval.json: choose another --out or --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    return out


def main(args: Args) -> None:
    """Load, evaluate, print and save."""
    torch.set_num_threads(args.threads)
    keep_freed_memory()
    model, extra, metadata = load_model(args.checkpoint)
    task = make_task(**metadata["task"])
    if not isinstance(task, SupervisedTask):
        raise ValueError(f"{args.checkpoint} holds a {task.name} model, not a q-norm run's")
    train = TrainConfig(**metadata["train"])
    out = output_folder(args)
    batch = task.evaluation_set(np.random.default_rng([args.eval_seed, 3]))
    policy_seed = extra.get("fixed_policy_seed")
    if policy_seed is None:
        generator = torch.Generator().manual_seed(args.eval_seed)
        policy_seed = model.sample_policy_seed(args.seeds, generator, task.policy_seed_length)

    start = time.time()
    per_instance = score_instances(
        task, model, batch, policy_seed, majority=args.majority, compile=args.compile
    )
    summary = report(per_instance)
    seconds = round(time.time() - start, 1)
    n_instances = len(per_instance["success"])
    title = (
        f"{task.name} N={task.size} {train.variant}: {n_instances} inputs x "
        f"{policy_seed.shape[0]} seeds"
    )
    print(format_table(summary, title))
    result = {
        "checkpoint": str(args.checkpoint),
        "task": task.spec,
        "train": metadata["train"],
        "model": metadata["model"],
        "train_seed": metadata.get("seed"),
        "n_instances": n_instances,
        "n_seeds": policy_seed.shape[0],
        "eval_seed": args.eval_seed,
        "eval_time_s": seconds,
        "compile": args.compile,
        "summary": summary,
    }
    (out / "eval.json").write_text(json.dumps(result, indent=1) + "\n")
    plot_histogram(per_instance, out / "histogram.png", title)
    print(f"evaluated in {seconds} s; wrote {out / 'eval.json'} and {out / 'histogram.png'}")


if __name__ == "__main__":
    try:
        main(parse(Args, __doc__))
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
