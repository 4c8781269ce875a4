"""Evaluate a q-norm checkpoint: success, 95th percentile, worst case, majority, sampled.

    python scripts/evaluate.py results/qnorm/runs/recall15_q_R_q100_m30_s0/model.pt

The evaluation set is every query position x every query value x ``--fillings`` fillings for
recall and all (N-1)!/2 cycles for coloring; a random-seed model runs under ``--seeds`` policy
seeds (155 = 5 groups of 31 = 31 groups of 5), a fixed-seed model under its r0; majority(k) for
each ``--majority`` k (``--majority 5 31 155``: also the vote of all 155 seeds). Prints a table
and writes ``<out>/eval.json`` (summary + set-up) and ``<out>/histogram.png`` (per-input
success, as the paper's Figure 1B).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from agents.metrics import MAJORITY, format_table, plot_histogram, report, score_instances
from agents.runs.checkpoint import load_model
from agents.tasks import make_task, task_size


@dataclass
class Args:
    """Command-line arguments."""

    checkpoint: str
    seeds: int = 155  # policy seeds per input for a random-seed model
    fillings: int = 16  # recall: random fillings per (query position, query value)
    eval_seed: int = 0  # of the fillings and the evaluation policy seeds
    out: str = ""  # output folder; default: the checkpoint's folder
    threads: int = 1
    majority: tuple[int, ...] = MAJORITY  # odd numbers k of voting seeds (k = seeds: all vote)


def parse_args() -> Args:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint")
    for name in ("seeds", "fillings", "eval_seed", "threads"):
        parser.add_argument(f"--{name}", type=int, default=getattr(Args, name))
    parser.add_argument("--out", default="")
    parser.add_argument("--majority", type=int, nargs="+", default=Args.majority)
    args = vars(parser.parse_args())
    return Args(**args | {"majority": tuple(args["majority"])})


def main(args: Args) -> None:
    """Load, evaluate, print and save."""
    torch.set_num_threads(args.threads)
    model, extra, metadata = load_model(args.checkpoint)
    task = make_task(**metadata["task"])
    rng = np.random.default_rng([args.eval_seed, 3])
    options = {"fillings": args.fillings} if task.name == "recall" else {}
    batch = task.evaluation_set(rng, **options)
    policy_seed = extra.get("fixed_policy_seed")
    if policy_seed is None:
        generator = torch.Generator().manual_seed(args.eval_seed)
        policy_seed = model.sample_policy_seed(args.seeds, generator, task.policy_seed_length)

    start = time.time()
    per_instance = score_instances(task, model, batch, policy_seed, majority=args.majority)
    summary = report(per_instance)
    seconds = round(time.time() - start, 1)
    variant = metadata["train"]["variant"]
    n_instances = len(per_instance["success"])
    size = task_size(task.spec)
    title = f"{task.name} N={size} {variant}: {n_instances} inputs x {policy_seed.shape[0]} seeds"
    print(format_table(summary, title))

    out = Path(args.out or Path(args.checkpoint).parent)
    out.mkdir(parents=True, exist_ok=True)
    result = {
        "checkpoint": str(args.checkpoint),
        "task": task.spec,
        "train": metadata["train"],
        "model": metadata["model"],
        "n_instances": n_instances,
        "n_seeds": policy_seed.shape[0],
        "fillings": args.fillings if task.name == "recall" else None,
        "eval_seed": args.eval_seed,
        "eval_time_s": seconds,
        "summary": summary,
    }
    (out / "eval.json").write_text(json.dumps(result, indent=1) + "\n")
    plot_histogram(per_instance, out / "histogram.png", title)
    print(f"evaluated in {seconds} s; wrote {out / 'eval.json'} and {out / 'histogram.png'}")


if __name__ == "__main__":
    main(parse_args())
