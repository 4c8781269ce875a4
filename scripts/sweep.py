"""Train and evaluate a grid of q-norm runs (task x N x variant x q x m x seed) into one table.

    python scripts/sweep.py --q 1 2 4 8 16 32 64 128 --n 4 --steps 600 --warmup 60   # one by one
    python scripts/sweep.py --q 1 2 4 8 16 32 64 128 --n 4 --steps 600 --warmup 60 --backend ray
    python scripts/sweep.py ... --backend ray --ray-address auto --workers 64  # on a cluster

Every cell of the grid is scripts/train_qnorm.py (threads 1, no progress bar), then
scripts/evaluate.py on its model, in <out>/runs/<cell>/ (their output in output.txt). With
--backend ray each cell is a Ray task of one CPU (at most --workers at once; every node needs
this checkout and the working directory at the same paths, as each cell runs in the latter; a
cell whose worker dies is run again); with --backend local the cells run one after the other
in this process. Both give the same table: one row per cell,
its configuration and its evaluation (success: average, 95th percentile, worst case over
inputs; sampled and majority averages), as <out>/table.md and <out>/table.json. The ERM
variants (E_*) ignore q, the r0 variants m: such cells are run once.

A sweep that stopped before its table (killed, or a cell failed) continues with the same
command: a cell already evaluated with these flags is kept, a cell whose training stopped
resumes from its last checkpoint; --overwrite true runs every cell again.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import runpy
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agents.evolution.ray_evaluator import connect, import_ray
from agents.metrics import MAJORITY
from agents.reports.tables import cell, markdown_table
from agents.runs.cli import flag, parse
from agents.runs.folder import default_run_dir
from agents.supervised.trainer import VARIANTS, run_name
from agents.tasks import supervised_tasks

SCRIPTS = Path(__file__).resolve().parent
SCORES = ("success", "sampled", *(f"majority_{k}" for k in MAJORITY))
RUNTIME_FLAGS = ("--threads", "1", "--progress", "false")  # of every cell's training


@dataclass
class Args:
    """Command-line flags: lists span the grid; the others apply to every cell."""

    task: list[str] = flag(["recall"], "tasks", choices=supervised_tasks())
    n: list[int] = flag([4], "N: recall pairs or coloring vertices", minimum=2)
    variant: list[str] = flag(["q_R"], "variants", choices=VARIANTS)
    q: list[float] = flag([100.0], "q-norm exponents (q_* variants)", minimum=1, allow_inf=True)
    m: list[int] = flag([30], "random policy seeds per step of the *_R variants", minimum=1)
    seed: list[int] = flag([0], "training seeds", minimum=0, maximum=2**32 - 1)
    steps: int | None = flag(None, "optimizer steps (default: the task's)", minimum=1)
    batch_size: int | None = flag(None, "inputs per step (default: the task's)", minimum=1)
    warmup: int | None = flag(None, "warm-up steps (default: the task's)", minimum=0)
    lr_end: float | None = flag(None, "last learning rate (default: the task's)", minimum=0)
    preset: str = flag("paper", "the task's model preset")
    compile: bool = flag(False, "torch.compile each training step (recall: ~1.3x faster)")
    model: dict = flag({}, "JSON overrides of the model config, e.g. '{\"width\": 16}'")
    eval_seeds: int = flag(155, "policy seeds of each evaluation", minimum=max(MAJORITY))
    backend: str = flag("local", "where the cells run", choices=("local", "ray"))
    ray_address: str | None = flag(None, "Ray cluster to join (default: a local one)")
    workers: int = flag(2, "cells run at once with --backend ray", minimum=1)
    out: str | None = flag(None, "sweep folder (default: a fresh folder under runs/)")
    overwrite: bool = flag(False, "replace the sweep already in --out")

    def __post_init__(self) -> None:
        if self.ray_address and self.backend != "ray":
            raise ValueError("--ray-address joins a Ray cluster: add --backend ray")


@dataclass(frozen=True)
class Cell:
    """One training configuration of the grid."""

    task: str
    n: int
    variant: str
    q: float | None  # None for the ERM variants
    m: int | None  # None for the r0 variants
    seed: int

    @property
    def name(self) -> str:
        """A folder name, e.g. ``recall4_q_R_q8_m30_s0``."""
        return run_name(self.task, self.n, self.variant, self.q, self.m, self.seed)

    def train_flags(self) -> list[str]:
        """This cell's flags of scripts/train_qnorm.py."""
        flags = ["--task", self.task, "--n", str(self.n), "--variant", self.variant]
        flags += ["--seed", str(self.seed)]
        flags += [] if self.q is None else ["--q", str(self.q)]
        return flags + ([] if self.m is None else ["--m", str(self.m)])


def grid(args: Args) -> list[Cell]:
    """The grid's cells in order, each configuration once."""
    cells = [
        Cell(task, n, variant, None if variant.startswith("E") else q,
             None if variant.endswith("r0") else m, seed)
        for task, n, variant, q, m, seed in itertools.product(
            args.task, args.n, args.variant, args.q, args.m, args.seed
        )
    ]  # fmt: skip
    return list(dict.fromkeys(cells))


def common_flags(args: Args) -> list[str]:
    """The scripts/train_qnorm.py flags shared by every cell."""
    flags = ["--preset", args.preset, "--model", json.dumps(args.model)]
    flags += ["--compile", str(args.compile).lower()]
    for name in ("steps", "batch_size", "warmup", "lr_end"):
        if getattr(args, name) is not None:
            flags += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    return [*flags, *RUNTIME_FLAGS, "--overwrite", "true"]


def run_script(name: str, argv: list[str]) -> None:
    """Runs scripts/<name>.py's main on command-line flags, in this process."""
    script = runpy.run_path(str(SCRIPTS / f"{name}.py"))
    script["main"](parse(script["Args"], script["__doc__"], argv))


def run_cell(
    cell: Cell, flags: list[str], eval_seeds: int, out: Path, root: Path, reuse: bool = True
) -> dict[str, Any]:
    """Trains and evaluates one cell in `out` (with `reuse`, only what is not done yet); its row.

    The cell runs in the driver's working directory `root` (a Ray worker may start
    elsewhere), so a relative `out` means the same folder and the outputs record it as given.
    """
    with contextlib.chdir(root):
        out.mkdir(parents=True, exist_ok=True)
        train = [*cell.train_flags(), *flags, "--out", str(out / "train")]
        progress = _progress(out, train, eval_seeds) if reuse else "new"
        if progress == "evaluated":
            print(f"kept {out}: evaluated by an earlier run of this sweep")
        else:
            if progress == "started":
                print(f"resuming {out} from its last checkpoint")
                train = ["--resume", str(out / "train"), *RUNTIME_FLAGS]
            log = (out / "output.txt").open("a" if progress == "started" else "w")
            with log, contextlib.redirect_stdout(log):
                _train_and_evaluate(train, eval_seeds, out)
        result = json.loads((out / "eval" / "eval.json").read_text())
    return {**asdict(cell), "summary": result["summary"]}


def _train_and_evaluate(train: list[str], eval_seeds: int, out: Path) -> None:
    run_script("train_qnorm", train)
    evaluation = ["--seeds", str(eval_seeds), "--out", str(out / "eval"), "--overwrite", "true"]
    run_script("evaluate", [str(out / "train" / "model.pt"), *evaluation])


def _progress(out: Path, train: list[str], eval_seeds: int) -> str:
    """How far an earlier sweep got with this cell: new, started or evaluated.

    Started means a checkpoint of a training run with exactly these flags; evaluated, also an
    evaluation of its model with ``eval_seeds`` seeds (one for the r0 variants' fixed seed).
    """
    script = runpy.run_path(str(SCRIPTS / "train_qnorm.py"))
    wanted = json.loads(json.dumps(asdict(parse(script["Args"], script["__doc__"], train))))
    saved = _read_json(out / "train" / "run.json") or {}
    if saved.get("config") != wanted or not (out / "train" / "checkpoint.pt").exists():
        return "new"
    evaluation = _read_json(out / "eval" / "eval.json") or {}
    n_seeds = 1 if wanted["variant"].endswith("r0") else eval_seeds
    model = str(out / "train" / "model.pt")
    if (evaluation.get("checkpoint"), evaluation.get("n_seeds")) == (model, n_seeds):
        return "evaluated"
    return "started"


def _read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, or None if it is missing or unreadable."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def run_local(cells: list[Cell], flags: list[str], args: Args, out: Path) -> list[dict[str, Any]]:
    """Every cell in this process, one after the other."""
    rows = []
    for config in cells:
        cell_out, root = out / config.name, Path.cwd()
        rows.append(run_cell(config, flags, args.eval_seeds, cell_out, root, not args.overwrite))
        print(f"done {config.name}")
    return rows


def run_ray(cells: list[Cell], flags: list[str], args: Args, out: Path) -> list[dict[str, Any]]:
    """Every cell as a Ray task of one CPU, at most --workers at once; rows in grid order."""
    ray, owns_connection = connect(args.ray_address)
    task = ray.remote(num_cpus=1)(run_cell)
    rows: list[dict[str, Any] | None] = [None] * len(cells)
    waiting, running, root = list(enumerate(cells)), {}, Path.cwd()
    while waiting or running:
        while waiting and len(running) < args.workers:
            index, config = waiting.pop(0)
            cell_out, reuse = out / config.name, not args.overwrite
            running[task.remote(config, flags, args.eval_seeds, cell_out, root, reuse)] = index
        done, _ = ray.wait(list(running), num_returns=1)
        index = running.pop(done[0])
        rows[index] = ray.get(done[0])
        print(f"done {cells[index].name}")
    if owns_connection:
        ray.shutdown()
    return rows


def setting(value: Any) -> str:
    """A configuration value as a table cell ("-" where the variant ignores it)."""
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)


def markdown(rows: list[dict[str, Any]]) -> list[str]:
    """The table's Markdown lines: a row per cell, its configuration and success statistics."""
    header = ["task", "N", "variant", "q", "m", "seed", "success", "success p95", "success worst"]
    header += [f"{score} avg" for score in SCORES[1:]]
    lines = []
    for row in rows:
        summary = row["summary"]
        config = [setting(row[key]) for key in ("task", "n", "variant", "q", "m", "seed")]
        success = [cell(summary["success"][key], 4) for key in ("average", "p95", "worst")]
        others = [cell(summary[score]["average"], 4) for score in SCORES[1:]]
        lines.append(config + success + others)
    return markdown_table(header, lines)


def main(args: Args) -> None:
    """Run the grid, then write and print the table."""
    if args.backend == "ray":
        import_ray()  # says how to install Ray before any work starts
    out = Path(args.out) if args.out else default_run_dir("sweep")
    if (out / "table.json").exists() and not args.overwrite:
        raise ValueError(f"{out} already holds a sweep: choose another --out or --overwrite")
    cells, flags = grid(args), common_flags(args)
    print(f"{len(cells)} cells on the {args.backend} backend -> {out}")
    began = time.perf_counter()
    run = run_ray if args.backend == "ray" else run_local
    rows = run(cells, flags, args, out / "runs")
    (out / "table.json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = markdown(rows)
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"{len(cells)} cells in {time.perf_counter() - began:.1f} s; wrote {out / 'table.md'}")


if __name__ == "__main__":
    try:
        main(parse(Args, __doc__))
    except (ValueError, OSError, ImportError) as error:
        raise SystemExit(f"error: {error}") from None
