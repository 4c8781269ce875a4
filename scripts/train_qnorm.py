"""Train a seeded transformer on associative recall or cycle coloring with the q-norm loss.

    python scripts/train_qnorm.py --task recall --n 15 --q 100 --m 30
    python scripts/train_qnorm.py --task coloring --n 10 --variant q_r0

Unset optimisation flags take the task's defaults (``TASK_DEFAULTS``: the paper's values, with
the batch and the number of steps sized for a 30-minute CPU run). Writes ``<out>/log.csv`` (a
row every ``--log_every`` steps, with evaluation columns every ``--eval_every`` steps) and
``<out>/model.pt`` (tensors + JSON config, see agents.runs.checkpoint), and shows a progress bar
with the running loss and success.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from agents.metrics import report, score_instances
from agents.models.transformer import SeededTransformer
from agents.runs.checkpoint import save_model
from agents.supervised.trainer import TrainConfig, Trainer
from agents.tasks import make_task, task_size


@dataclass
class Args:
    """Command-line flags (``--name value``); None means the task's paper default."""

    task: str = "recall"  # "recall" or "coloring"
    n: int | None = None  # recall: N pairs (default 15); coloring: N vertices (default 10)
    variant: str = "q_R"  # E_r0 | q_r0 | E_R | q_R
    q: float | None = None  # recall 100, coloring 10 (E_* variants use 1)
    m: int | None = None  # random policy seeds per step: recall 30, coloring 10
    batch_size: int | None = None  # recall 128 (the paper: 512), coloring 256
    steps: int | None = None  # recall 24k, coloring 15k
    lr: float | None = None
    lr_end: float | None = None
    warmup: int | None = None
    weight_decay: float | None = None
    adam_eps: float | None = None
    model: str = "{}"  # JSON overrides of the task's TransformerConfig, e.g. '{"seed_dim": 16}'
    seed: int = 0  # of this training run: initial weights, r0, policy seeds and data
    threads: int = 1  # torch CPU threads
    compile: bool = False  # torch.compile the forward pass and loss (~1.4x faster steps)
    out: str = ""  # output folder; default results/qnorm/runs/<task><n>_<variant>_...
    log_every: int = 50
    eval_every: int = 0  # 0: no evaluation during training
    eval_seeds: int = 31  # policy seeds of the in-training evaluation (R variants)
    progress: bool = True


def parse_args() -> Args:
    """Parse ``--field value`` flags for every field of ``Args``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    types = {"int": int, "float": float, "str": str, "bool": lambda s: s.lower() in ("1", "true")}
    for field in dataclasses.fields(Args):
        kind = types[str(field.type).removesuffix(" | None")]
        parser.add_argument(f"--{field.name}", type=kind, default=field.default)
    return Args(**vars(parser.parse_args()))


def main(args: Args) -> None:
    """Build the task, model and trainer, train, log and save the checkpoint."""
    torch.set_num_threads(args.threads)
    size_name, default_size = {"recall": ("n_pairs", 15), "coloring": ("n_vertices", 10)}[args.task]
    task = make_task(args.task, **{size_name: args.n or default_size})
    given = {
        "variant": args.variant, "q": args.q, "n_seeds": args.m, "batch_size": args.batch_size,
        "steps": args.steps, "lr": args.lr, "lr_end": args.lr_end, "warmup": args.warmup,
        "weight_decay": args.weight_decay, "adam_eps": args.adam_eps,
    }  # fmt: skip
    config = TrainConfig.for_task(task.name, **{k: v for k, v in given.items() if v is not None})
    model_config = task.model_config(**json.loads(args.model))
    generator = torch.Generator().manual_seed(args.seed)
    model = SeededTransformer(model_config, generator)
    data_rng = np.random.default_rng([args.seed, 1])
    trainer = Trainer(task, model, config, generator, data_rng, compile=args.compile)
    out = Path(args.out or _default_out(task.spec, config, args.seed))
    out.mkdir(parents=True, exist_ok=True)
    print(f"{task.spec} {config.to_dict()}\nmodel {model_config}\n-> {out}")

    # a fixed evaluation set and fixed evaluation seeds for the in-training evaluation
    eval_batch = _small_eval_set(task, np.random.default_rng([args.seed, 2]))
    eval_seeds = trainer.fixed_policy_seed
    if eval_seeds is None:
        eval_seeds = model.sample_policy_seed(
            args.eval_seeds, torch.Generator().manual_seed(args.seed + 1), task.policy_seed_length
        )

    start, cpu_start, running, rows = time.time(), time.process_time(), {}, []
    bar = tqdm(range(config.steps), disable=not args.progress, mininterval=2, smoothing=0.05)
    for step in bar:
        stats = trainer.step()
        running = {k: 0.98 * running.get(k, v) + 0.02 * v for k, v in stats.items()}
        if (step + 1) % 10 == 0:
            bar.set_postfix(loss=f"{running['loss']:.3f}", success=f"{running['success']:.3f}")
        if (step + 1) % args.log_every == 0 or step + 1 == config.steps:
            cpu = round(time.process_time() - cpu_start, 1)  # this process's CPU seconds
            row = {"step": step + 1, "time": round(time.time() - start, 1), "cpu": cpu, **stats}
            if args.eval_every and ((step + 1) % args.eval_every == 0 or step + 1 == config.steps):
                summary = report(score_instances(task, model, eval_batch, eval_seeds))
                row |= {
                    f"eval_{k}_{s}": v[s] for k, v in summary.items() for s in ("average", "p95")
                }
                tqdm.write(" ".join(f"{k}={v:.4g}" for k, v in row.items()))
            rows.append(row)
            _write_csv(out / "log.csv", rows)

    metadata = {
        "task": task.spec,
        "train": config.to_dict(),
        "seed": args.seed,
        "steps_done": trainer.step_count,
        "wall_time_s": round(time.time() - start, 1),
        "cpu_time_s": round(time.process_time() - cpu_start, 1),
        "threads": args.threads,
        "compile": args.compile,
    }
    extra = {} if trainer.fixed_policy_seed is None else {"fixed_policy_seed": eval_seeds}
    save_model(out / "model.pt", model, metadata, extra)
    print(f"done in {metadata['wall_time_s']} s; checkpoint {out / 'model.pt'}")


def _default_out(spec: dict, config: TrainConfig, seed: int) -> str:
    size = task_size(spec)
    q = f"_q{config.effective_q:g}" if config.variant.startswith("q") else ""
    m = "" if config.fixed_seed else f"_m{config.n_seeds}"
    return f"results/qnorm/runs/{spec['name']}{size}_{config.variant}{q}{m}_s{seed}"


def _small_eval_set(task, rng: np.random.Generator) -> dict:
    """A cheap evaluation set: recall with 2 fillings (960 for N = 15), 8192 random cycles."""
    return task.evaluation_set(rng, fillings=2) if task.name == "recall" else task.sample(rng, 8192)


def _write_csv(path: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, columns)
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main(parse_args())
