"""Recipe search for the grid world's ES presets: one run per JSON config, a JSON line of results.

    .venv/bin/python results/grid/recipes/search.py NAME '{"es": {...}, "generations": 60}'

The config is an `EvolveConfig` (the "default" preset's values for the keys left out) plus
optional `q_schedule` [[generation, q], ...] (q switches at those generations). It evaluates
the ES center every `eval_every` generations (100 seeds) and ends with the final table rows.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

import torch

from agents.evolution.report import final_evaluation
from agents.evolution.run import Evolution, EvolveConfig
from agents.metrics import summarize
from agents.tasks.grid.task import GridTask


def beats_the_serpentine(rand: dict[str, float], fixed: dict[str, float]) -> bool:
    """The demo's targets: 95th >= -29.7, worst >= -32, worst 3 steps above the fixed seed's."""
    return rand["p95"] >= -29.7 and rand["worst"] >= -32 and rand["worst"] >= fixed["worst"] + 3


def main() -> None:
    """Runs one recipe and appends its results to results/grid/recipes/runs.jsonl."""
    name, spec = sys.argv[1], json.loads(sys.argv[2])
    torch.set_num_threads(int(spec.pop("threads", 1)))
    eval_every = spec.pop("eval_every", 10)
    schedule = [(int(g), float(q)) for g, q in spec.pop("q_schedule", [])]
    preset = spec.pop("preset", "default")
    base = dict(GridTask.evolution_presets[preset])
    base.update(spec)
    config = EvolveConfig(**base)
    load0 = os.getloadavg()[0]
    start = time.perf_counter()
    run = Evolution(config)
    curve = []
    for generation in range(1, config.generations + 1):
        for at, q in schedule:
            if generation - 1 == at:
                run.config = dataclasses.replace(run.config, q=q)
        metrics = run.step()
        if generation % eval_every == 0 or generation == config.generations:
            s = summarize(run.center_returns(100).mean(dim=1).numpy())
            point = [
                generation,
                round(time.perf_counter() - start),
                round(s["average"], 2),
                round(s["p95"], 2),
                round(s["worst"], 2),
                round(metrics["worst_case_best"], 1),
                round(metrics["sigma_mean"], 4),
            ]
            curve.append(point)
            print(name, point, flush=True)
    train_seconds = time.perf_counter() - start
    rows, _ = final_evaluation(run, 100)
    total = time.perf_counter() - start
    rand = rows[next(k for k in rows if k.startswith("trained, random"))]
    fixed = rows["trained, best fixed seed (deterministic)"]
    record = {
        "name": name,
        "config": {**config.to_json(), "q_schedule": schedule},
        "train_s": round(train_seconds),
        "total_s": round(total),
        "load_start": round(load0, 2),
        "load_end": round(os.getloadavg()[0], 2),
        "random": rand,
        "fixed": fixed,
        "curve": curve,
        "pass": beats_the_serpentine(rand, fixed),
    }
    print(json.dumps(record), flush=True)
    with open("results/grid/recipes/runs.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
