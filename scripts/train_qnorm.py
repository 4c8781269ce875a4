"""Train a seeded transformer on a supervised task (recall, coloring) with the q-norm loss.

    python scripts/train_qnorm.py --task recall --n 15 --q 100 --m 30
    python scripts/train_qnorm.py --task coloring --n 10 --variant q_r0
    python scripts/train_qnorm.py --resume runs/qnorm/recall15_q_R_q100_m30_s0
    python scripts/train_qnorm.py --task coloring --preset paper_tables --memory-rounds 4

Unset optimisation flags take the task's training defaults (the paper's values, with the batch
and the number of steps sized for a 30-minute CPU run). The run folder gets log.csv (a row every
--log-every steps, evaluation columns every --eval-every steps), checkpoint.pt (every
--checkpoint-every steps, atomically) and, at the end, model.pt. A killed run continues with
--resume, bit-identically to an uninterrupted one; Ctrl-C saves a checkpoint first. A loss or
gradient that is not finite stops the run with the last good checkpoint kept.

--memory-rounds T (or a memory preset, e.g. --preset memory) trains a MemoryProcessor (the
preset's blocks applied T times with a memory of per-position ideas; agents.models.memory), and
--idea-loss-weight w > 0 adds w times the contrastive idea loss of each batch and its similar
inputs (agents.supervised.idea_training).
The memory's rounds iterate un-normalised linear attention with the paper presets: from T = 3
on, use pre-LN (the paper_tables presets, or --model '{"layer_norm": true}').
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from agents.metrics import COSTS, SCORES, report, score_instances
from agents.models.memory import MemoryConfig, build_model
from agents.models.transformer import TransformerConfig
from agents.runs.allocator import keep_freed_memory
from agents.runs.checkpoint import load_model, save_model
from agents.runs.cli import flag, parse
from agents.runs.folder import RunFolder, default_run_dir
from agents.runs.interrupt import StopRequest
from agents.runs.logger import RunLogger
from agents.supervised.idea_loss import DEFAULT_TEMPERATURE
from agents.supervised.idea_training import IdeaConfig, IdeaTrainer
from agents.supervised.trainer import VARIANTS, Diverged, TrainConfig, Trainer, run_name
from agents.tasks import SupervisedTask, make_task, supervised_tasks, task_class

SCRIPT = "train_qnorm"
OPTIMISATION = ("q", "batch_size", "steps", "lr", "lr_end", "warmup", "weight_decay", "adam_eps")
RESUMABLE = ("threads", "progress", "resume")  # flags that may change when a run resumes


@dataclass
class Args:
    """Command-line flags; optimisation flags left unset take the task's defaults."""

    task: str = flag("recall", "the task", choices=supervised_tasks())
    n: int | None = flag(None, "N: recall pairs or coloring vertices (default: the env's)")
    variant: str = flag("q_R", "*_r0: one fixed seed, *_R: m random seeds", choices=VARIANTS)
    q: float | None = flag(None, "q-norm exponent of the q_* variants", minimum=1, allow_inf=True)
    m: int | None = flag(None, "random policy seeds per step (R variants)", minimum=1, maximum=4096)
    batch_size: int | None = flag(None, "fresh inputs per step", minimum=1, maximum=65536)
    steps: int | None = flag(None, "optimizer steps", minimum=1, maximum=10**8)
    lr: float | None = flag(None, "peak learning rate", minimum=0)
    lr_end: float | None = flag(None, "learning rate at the last step", minimum=0)
    warmup: int | None = flag(None, "steps of linear warm-up", minimum=0)
    weight_decay: float | None = flag(None, "decoupled weight decay", minimum=0)
    adam_eps: float | None = flag(None, "Adam epsilon", minimum=0)
    preset: str = flag("paper", "the task's model preset")
    model: dict = flag({}, "JSON overrides of the model config, e.g. '{\"seed_dim\": 16}'")
    memory_rounds: int = flag(0, "T: rounds of a MemoryProcessor (0: none)", minimum=0, maximum=64)
    idea_dim: int = flag(8, "k: features of a memory idea", minimum=1, maximum=4096)
    read_memory: bool = flag(True, "rounds read earlier ideas (false: shared blocks only)")
    idea_loss_weight: float = flag(0.0, "weight of the contrastive idea loss", minimum=0)
    idea_temperature: float = flag(DEFAULT_TEMPERATURE, "temperature of the idea loss", minimum=0)
    idea_inputs: int = flag(64, "inputs per step in the idea loss", minimum=2, maximum=65536)
    seed: int = flag(0, "seed of weights, r0, policy seeds, data", minimum=0, maximum=2**32 - 1)
    threads: int = flag(1, "torch CPU threads", minimum=1, maximum=256)
    compile: bool = flag(False, "torch.compile the step (recall ~1.3x faster; coloring ~2x)")
    out: str | None = flag(None, "run folder (default: a fresh folder under runs/qnorm)")
    resume: str | None = flag(None, "continue the run in this folder")
    overwrite: bool = flag(False, "replace the run already in --out")
    checkpoint_every: int = flag(500, "steps between checkpoints", minimum=1)
    log_every: int = flag(50, "steps between log rows", minimum=1)
    eval_every: int = flag(0, "steps between evaluations on a quick set (0: none)", minimum=0)
    eval_seeds: int = flag(31, "policy seeds of in-training evaluations", minimum=1, maximum=4096)
    progress: bool = flag(True, "show a progress bar")

    def __post_init__(self) -> None:
        if self.resume and (self.out or self.overwrite):
            raise ValueError("--resume continues a run in its folder: drop --out and --overwrite")
        if not self.idea_temperature > 0:
            raise ValueError(f"--idea-temperature {self.idea_temperature}: expected > 0")


def train_config(args: Args, task: SupervisedTask) -> TrainConfig:
    """The task's training defaults with the given flags."""
    given = {name: getattr(args, name) for name in OPTIMISATION if getattr(args, name) is not None}
    if args.m is not None:
        given["n_seeds"] = args.m
    return TrainConfig.for_task(task, variant=args.variant, **given)


def model_config(args: Args, task: SupervisedTask) -> TransformerConfig:
    """The preset's config with the --model overrides and the memory flags.

    With --memory-rounds or a memory preset it is a ``MemoryConfig`` that takes --idea-dim and
    --read-memory.

    Raises:
        ValueError: If --idea-loss-weight or --read-memory false is given without a memory.
    """
    rounds = {"memory_rounds": args.memory_rounds} if args.memory_rounds else {}
    config = task.model_config(args.preset, **{**args.model, **rounds})
    if isinstance(config, MemoryConfig):
        return dataclasses.replace(config, idea_dim=args.idea_dim, read_memory=args.read_memory)
    if args.idea_loss_weight or not args.read_memory:
        raise ValueError(
            "--idea-loss-weight and --read-memory need a memory: set --memory-rounds T >= 1 "
            "or a memory preset"
        )
    return config


def make_trainer(args: Args, task: SupervisedTask) -> Trainer:
    """The run's model and trainer (an ``IdeaTrainer`` with --idea-loss-weight)."""
    generator = torch.Generator().manual_seed(args.seed)
    model = build_model(model_config(args, task), generator)
    config, data_rng = train_config(args, task), np.random.default_rng([args.seed, 1])
    if args.idea_loss_weight:
        idea = IdeaConfig(args.idea_loss_weight, args.idea_temperature, args.idea_inputs)
        return IdeaTrainer(task, model, config, generator, data_rng, idea, compile=args.compile)
    return Trainer(task, model, config, generator, data_rng, compile=args.compile)


def resumed_args(args: Args, saved: dict[str, Any]) -> Args:
    """The saved run's flags; refuses other flags that contradict them."""
    defaults = Args()
    saved = {**dataclasses.asdict(defaults), **saved}  # runs saved before a flag existed
    conflicts = [
        f"--{name.replace('_', '-')}: the run has {saved[name]!r}, you asked {value!r}"
        for name, value in dataclasses.asdict(args).items()
        if name not in RESUMABLE and value != getattr(defaults, name) and value != saved[name]
    ]
    if conflicts:
        raise ValueError(f"{args.resume} holds another run:\n  " + "\n  ".join(conflicts))
    keep = {name: getattr(args, name) for name in RESUMABLE}
    return Args(**{**saved, **keep, "resume": None, "out": None})


def evaluation(task: SupervisedTask, trainer: Trainer, args: Args):
    """A function () -> eval columns: the model on a fixed quick set under fixed policy seeds."""
    model = trainer.model
    batch = task.evaluation_set(np.random.default_rng([args.seed, 2]), quick=True)
    seeds = trainer.fixed_policy_seed
    if seeds is None:
        generator = torch.Generator().manual_seed(args.seed + 1)
        seeds = model.sample_policy_seed(args.eval_seeds, generator, task.policy_seed_length)

    def evaluate() -> dict[str, float]:
        summary = report(score_instances(task, model, batch, seeds))
        return {f"eval_{k}_{s}": v[s] for k, v in summary.items() for s in ("average", "p95")}

    return evaluate


def save(path: Path, trainer: Trainer, task: SupervisedTask, args: Args, seconds: float) -> None:
    """The model, the trainer's state and the run's metadata, atomically."""
    tensors, state = trainer.state_dict()
    if trainer.fixed_policy_seed is not None:
        tensors["fixed_policy_seed"] = trainer.fixed_policy_seed
    metadata = {
        "task": task.spec, "train": trainer.config.to_dict(), "seed": args.seed,
        "steps_done": trainer.step_count, "wall_time_s": round(seconds, 1),
        "threads": args.threads, "compile": args.compile, "trainer": state,
    }  # fmt: skip
    if isinstance(trainer, IdeaTrainer):
        metadata["idea_loss"] = dataclasses.asdict(trainer.idea)
    save_model(path, trainer.model, metadata, tensors)


def default_name(task: SupervisedTask, trainer: Trainer, args: Args) -> str:
    """The default folder name, e.g. ``recall15_q_R_q100_m30_s0``, ``..._m30_T4_w0.1_s0``."""
    config, model = trainer.config, trainer.model.config
    memory = f"_T{model.memory_rounds}" if isinstance(model, MemoryConfig) else ""
    memory += "" if args.read_memory else "_noread"
    memory += f"_w{args.idea_loss_weight:g}" if args.idea_loss_weight else ""
    parts = (task.name, task.size, config.variant, config.q, config.n_seeds, args.seed)
    return run_name(*parts, memory)


def main(args: Args) -> None:
    """Build or resume the run, then train in its locked folder."""
    torch.set_num_threads(args.threads)
    keep_freed_memory()
    folder = RunFolder.resume(args.resume, script=SCRIPT) if args.resume else None
    if folder is not None:
        args = resumed_args(args, folder.config)
    sizes = {} if args.n is None else {task_class(args.task).size_kwarg: args.n}
    task = make_task(args.task, **sizes)
    trainer = make_trainer(args, task)
    if folder is None:
        name = default_name(task, trainer, args)
        out = Path(args.out or default_run_dir(name, "runs/qnorm"))
        folder = RunFolder.create(out, SCRIPT, dataclasses.asdict(args), overwrite=args.overwrite)
    with folder:
        if (folder.path / "checkpoint.pt").exists():  # a resumed run's last checkpoint
            restore(folder.path / "checkpoint.pt", trainer)
        train(folder.path, task, trainer, args)


def restore(path: Path, trainer: Trainer) -> None:
    """Loads the model and the trainer's state saved at ``path``."""
    model, extra, metadata = load_model(path, trainer.model.config)
    trainer.model.load_state_dict(model.state_dict())
    trainer.load_state_dict(extra, metadata["trainer"])


def train(out: Path, task: SupervisedTask, trainer: Trainer, args: Args) -> None:
    """The training loop, from the trainer's step to the last one."""
    config, start = trainer.config, trainer.step_count
    optional = [f"eval_{k}_{s}" for k in (*SCORES, *COSTS) for s in ("average", "p95")]
    evaluate = evaluation(task, trainer, args)
    began, cpu_began = time.time(), time.process_time()
    print(f"{task.spec} {config.to_dict()}\nmodel {trainer.model.config}\n-> {out}")
    bar = tqdm(range(start, config.steps), initial=start, total=config.steps,
               disable=not args.progress, mininterval=2, smoothing=0.05)  # fmt: skip
    log = RunLogger(out, optional=optional, resume_from_step=start or None)
    with log, StopRequest() as stop:
        for step in bar:
            try:
                stats = trainer.step()
            except Diverged as error:
                raise SystemExit(f"error: {error}; the last good checkpoint is "
                                 f"{out / 'checkpoint.pt'}") from None  # fmt: skip
            done = step + 1
            if done % args.log_every == 0 or done == config.steps:
                row = {"step": done, "time": round(time.time() - began, 1),
                       "cpu": round(time.process_time() - cpu_began, 1), **stats}  # fmt: skip
                if args.eval_every and (done % args.eval_every == 0 or done == config.steps):
                    row |= evaluate()
                log.log(row)
                bar.set_postfix(loss=f"{stats['loss']:.3f}", success=f"{stats['success']:.3f}")
            if done % args.checkpoint_every == 0 or done == config.steps or stop.requested:
                save(out / "checkpoint.pt", trainer, task, args, time.time() - began)
            if stop.requested:
                raise SystemExit(f"interrupted at step {done}: continue with --resume {out}")
    save(out / "model.pt", trainer, task, args, time.time() - began)
    print(f"done in {time.time() - began:.1f} s; model {out / 'model.pt'}")


if __name__ == "__main__":
    try:
        main(parse(Args, __doc__))
    except (ValueError, OSError) as error:
        raise SystemExit(f"error: {error}") from None
