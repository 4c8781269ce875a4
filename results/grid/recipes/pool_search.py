"""The seed-pool search: policy seeds from a fixed pool of k vectors, played whole each generation.

    .venv/bin/python results/grid/recipes/pool_search.py NAME '{"pool": 8, "scale": 3.0, "seed": 1}'

These runs were made before models had a ``seed_pool``: the script plays the "default" preset
with a model of fresh N(0, 1) seeds (``seed_pool=0``) and replaces the run's policy seeds (in
training and evaluation) by ``scale`` times k draws from a generator seeded ``1000 + seed``.
The "default" preset now builds the same kind of model itself (``seed_pool=8, seed_std=3``,
with its pool drawn from a fixed generator). It prints the ES center every 50 generations
(average, 95th, worst under the pool, and the worst of its best single seed) and the final table.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time

import torch

from agents.evolution.report import final_evaluation
from agents.evolution.run import Evolution, EvolveConfig
from agents.metrics import summarize
from agents.tasks.grid.task import GridTask


def main() -> None:
    """Runs one configuration and prints its curve and final table."""
    name, spec = sys.argv[1], json.loads(sys.argv[2])
    torch.set_num_threads(1)
    k, scale = spec.pop("pool"), spec.pop("scale", 1.0)
    schedule = [(int(g), float(q)) for g, q in spec.pop("q_schedule", [])]
    base = dict(GridTask.evolution_presets["default"])
    base.update(spec)
    base["model"] = {**base.get("model", {}), "seed_pool": 0, "seed_std": 1.0}
    config = EvolveConfig(**base)
    run = Evolution(config)
    pool = scale * run._policy_seeds(k, torch.Generator().manual_seed(1000 + config.seed))
    run.policy_seeds = lambda: pool
    run.evaluation_seeds = lambda n: pool
    start = time.perf_counter()
    for generation in range(1, config.generations + 1):
        for at, q in schedule:
            if generation - 1 == at:
                run.config = dataclasses.replace(run.config, q=q)
        run.step()
        if generation % 50 == 0:
            returns = run.center_returns(k)
            summary = summarize(returns.mean(dim=1).numpy())
            best_seed = returns[:, int(returns.min(0).values.argmax())]
            print(
                name, generation, round(time.perf_counter() - start),
                {key: round(value, 2) for key, value in summary.items()},
                "fixed worst", round(best_seed.min().item(), 2), flush=True,
            )  # fmt: skip
    rows, _ = final_evaluation(run, k)
    for key, row in rows.items():
        print(name, key, {a: round(b, 2) for a, b in row.items()})
    print(name, "done", round(time.perf_counter() - start), "s", flush=True)


if __name__ == "__main__":
    main()
