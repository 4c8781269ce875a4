"""What going distributed costs: the Ray evaluator against the local one, and a cluster estimate.

    python -m benchmarks.ray_overhead [--rounds 3] [--mid-popsize 16] [--bandwidth-gbit 10]

Two grid-world generations, each evaluated in rounds by four back ends in turn (the same
candidates, instances and seeds every time): the local evaluator at 1 thread, Ray with one
actor (1 thread), the local evaluator at 2 threads, Ray with two actors (1 thread each). The
first is the default preset (its tiny model, popsize 32); the second the paper's model
(`--preset paper`, 138,564 parameters) at --mid-popsize candidates, a realistic cost per
candidate. Printed: seconds per generation (median over rounds, after one warm-up round) and
the throughput ratios Ray / local at equal cores; then the communication of a generation
(parameter bytes, the round trip of an empty actor call, the rate at which a task receives the
parameters through the object store) and the driver's ES step at the paper's popsize 300.

The estimate of the paper's full run (popsize 300, 24 cells x 10 seeds, 25,000 generations) on
K nodes of 2 cores (2K actors) per generation: the driver's ES step + ceil(300 / 2K) x the
measured seconds per candidate (paper model, 1 thread) + the communication: two round trips,
putting the 300 candidates into the object store at the measured rate, and sending them over
the driver's link at --bandwidth-gbit (an assumption: this machine has no network between
nodes). Communication dominates from the first K where it exceeds the evaluation share.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import subprocess
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from agents.evolution.evaluators import LocalEvaluator
from agents.evolution.ray_evaluator import RayEvaluator, connect, import_ray
from agents.evolution.run import Evolution, EvolveConfig
from agents.tasks import GridTask
from benchmarks.machine import describe

PAPER = {"popsize": 300, "generations": 25_000, "cells": 24, "seeds": 10}
NODES = (1, 4, 16, 64)
CORES_PER_NODE = 2


def grid_config(preset: str, popsize: int | None = None) -> EvolveConfig:
    """The grid world's evolution preset, at `popsize` candidates if given."""
    config = EvolveConfig(**GridTask.evolution_presets[preset])
    if popsize is None:
        return config
    return dataclasses.replace(config, es={**config.es, "popsize": popsize})


def timed(play: Callable[[], Any], threads: int) -> float:
    """Seconds of one call of `play` with `threads` torch threads in this process."""
    torch.set_num_threads(threads)
    began = time.perf_counter()
    play()
    return time.perf_counter() - began


def compare(config: EvolveConfig, rounds: int) -> dict[str, float]:
    """Median seconds per generation of the four back ends, measured in turns."""
    run = Evolution(config)
    inputs = (run.es.ask(), run.generation_instances(), run.policy_seeds())
    local = LocalEvaluator(run.engine)
    one, two = RayEvaluator(config, workers=1), RayEvaluator(config, workers=2)
    backends = {
        "local, 1 thread": (lambda: local.returns(*inputs), 1),
        "ray, 1 actor": (lambda: one.returns(*inputs), 1),
        "local, 2 threads": (lambda: local.returns(*inputs), 2),
        "ray, 2 actors": (lambda: two.returns(*inputs), 1),
    }
    seconds: dict[str, list[float]] = {name: [] for name in backends}
    for _ in range(rounds + 1):  # the first round warms up
        for name, (play, threads) in backends.items():
            seconds[name].append(timed(play, threads))
    if not torch.equal(one.returns(*inputs), local.returns(*inputs)):
        raise AssertionError("the Ray evaluator's returns differ from the local ones")
    one.close()
    two.close()
    return {name: statistics.median(times[1:]) for name, times in seconds.items()}


def received_bytes(array: np.ndarray) -> int:
    """What a Ray task that receives `array` answers: its size."""
    return array.nbytes


def communication(config: EvolveConfig, repeats: int = 20) -> dict[str, float]:
    """Round trip of an empty actor call; rate of receiving parameters through the store."""
    ray, _ = connect(None)
    evaluator = RayEvaluator(config, workers=1)
    actor = evaluator.actors[0]
    trips = []
    for _ in range(repeats):
        began = time.perf_counter()
        ray.get(actor.ready.remote())
        trips.append(time.perf_counter() - began)
    evaluator.close()
    run = Evolution(config)
    parameters = torch.cat([run.es.ask()] * math.ceil(PAPER["popsize"] / run.es.popsize))
    parameters = parameters[: PAPER["popsize"]].numpy()
    receive = ray.remote(num_cpus=1)(received_bytes)
    ray.get(receive.remote(parameters[:1]))  # a worker for the task
    sends = []
    for _ in range(3):
        began = time.perf_counter()
        ray.get(receive.remote(parameters))
        sends.append(time.perf_counter() - began)
    es = es_step_seconds(run)
    return {
        "round_trip_s": statistics.median(trips),
        "parameter_bytes": parameters.nbytes,
        "store_rate_Bps": parameters.nbytes / statistics.median(sends),
        "es_step_s": es,
    }


def es_step_seconds(run: Evolution) -> float:
    """The driver's ask + tell at the paper's popsize (1 thread)."""
    paper = Evolution(dataclasses.replace(run.config, es={**run.config.es, "popsize": 300}))
    torch.set_num_threads(1)
    times = []
    for _ in range(3):
        began = time.perf_counter()
        candidates = paper.es.ask()
        paper.es.tell(-candidates[:, :8].abs().sum(dim=1))
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def estimate(per_candidate: float, comm: dict[str, float], bandwidth: float) -> list[str]:
    """The paper's full run per node count: hours, and which share dominates a generation."""
    popsize, generations = PAPER["popsize"], PAPER["generations"]
    transfer = comm["parameter_bytes"] / comm["store_rate_Bps"]
    lines = [
        "| nodes (2 cores) | actors | s/generation: ES + evaluation + communication "
        "| full run | dominant |",
        "|---|---|---|---|---|",
    ]
    dominated_from = None
    for nodes in NODES:
        actors = nodes * CORES_PER_NODE
        evaluation = math.ceil(popsize / actors) * per_candidate
        network = 0.0 if nodes == 1 else comm["parameter_bytes"] / bandwidth
        talk = 2 * comm["round_trip_s"] + transfer + network
        total = comm["es_step_s"] + evaluation + talk
        dominant = "communication" if talk > evaluation else "evaluation"
        if dominant == "communication" and dominated_from is None:
            dominated_from = nodes
        hours = generations * total / 3600
        lines.append(
            f"| {nodes} | {actors} | {comm['es_step_s']:.2f} + {evaluation:.2f} + {talk:.2f} "
            f"= {total:.2f} | {hours:,.1f} h ({hours / 24:.1f} days) | {dominant} |"
        )
    crossing = _crossing(per_candidate, comm, transfer, bandwidth)
    lines.append(
        f"communication dominates from {dominated_from or 'none'} of {NODES} nodes; "
        f"evaluation = communication at about {crossing:.0f} nodes"
    )
    return lines


def _crossing(per_candidate: float, comm: dict[str, float], transfer: float, bw: float) -> float:
    """The node count (continuous) where the evaluation share equals the communication."""
    talk = 2 * comm["round_trip_s"] + transfer + comm["parameter_bytes"] / bw
    return PAPER["popsize"] * per_candidate / (CORES_PER_NODE * talk)


def main() -> None:
    """Measure both generations, print the ratios, the communication and the estimate."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds per back end")
    parser.add_argument("--mid-popsize", type=int, default=16, help="paper-model candidates")
    parser.add_argument(
        "--bandwidth-gbit", type=float, nargs="+", default=[10.0, 1.0], help="assumed links"
    )
    args = parser.parse_args()
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"{describe()}\nload before: {load}\n")
    # 3 logical CPUs: the 1-actor and the 2-actor evaluators stay up side by side (idle
    # actors wait without using a core); measured back ends run one at a time
    import_ray().init(num_cpus=3, include_dashboard=False)
    configs = {
        "default preset (tiny model, popsize 32)": grid_config("default"),
        f"paper model, popsize {args.mid_popsize}": grid_config("paper", args.mid_popsize),
    }
    print("| generation | local 1 thread | ray 1 actor | ratio | local 2 threads "
          "| ray 2 actors | ratio | ray 2 actors / local 1 thread |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    medians = {}
    for label, config in configs.items():
        medians[label] = m = compare(config, args.rounds)
        one = m["local, 1 thread"] / m["ray, 1 actor"]
        two = m["local, 2 threads"] / m["ray, 2 actors"]
        print(
            f"| {label} | {m['local, 1 thread']:.3f} s | {m['ray, 1 actor']:.3f} s | "
            f"{one:.2f}x | {m['local, 2 threads']:.3f} s | {m['ray, 2 actors']:.3f} s | "
            f"{two:.2f}x | {m['local, 1 thread'] / m['ray, 2 actors']:.2f}x |"
        )
    print("(ratio: Ray throughput / local throughput at equal cores; >= 1: Ray no slower)\n")
    paper = grid_config("paper", args.mid_popsize)
    comm = communication(paper)
    per_candidate = medians[f"paper model, popsize {args.mid_popsize}"]["local, 1 thread"]
    per_candidate /= args.mid_popsize
    print(
        f"paper model, one generation of 300: {comm['parameter_bytes'] / 1e6:.1f} MB of "
        f"parameters; empty actor round trip {1e3 * comm['round_trip_s']:.2f} ms; object store "
        f"{comm['store_rate_Bps'] / 1e9:.2f} GB/s; driver ES step {comm['es_step_s']:.3f} s; "
        f"{per_candidate:.3f} s per candidate (24 cells x 10 seeds, 1 thread)\n"
    )
    for gbit in args.bandwidth_gbit:
        print(f"paper's full run (25,000 generations), links of {gbit:g} Gbit/s:")
        print("\n".join(estimate(per_candidate, comm, gbit * 1e9 / 8)) + "\n")
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"\nload after: {load}")


if __name__ == "__main__":
    main()
