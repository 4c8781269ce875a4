"""Replicates: runs that differ only in their training seed, aggregated with bootstrap CIs.

The interval is a plain percentile bootstrap of the mean over seeds (numpy only): the seeds'
values are resampled with replacement ``RESAMPLES`` times and the 2.5th and 97.5th
percentiles of the resampled means bound the 95 % interval. With few seeds it is narrow and
optimistic (two seeds give at most three distinct means), hence the note on rows with fewer
than ``MIN_SEEDS`` seeds; one seed has no interval.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.reports.runs import STATISTICS, Run

RESAMPLES = 10_000
MIN_SEEDS = 3


@dataclass(frozen=True)
class Estimate:
    """The mean over seeds of one statistic, with its 95 % bootstrap interval (None for 1)."""

    mean: float
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Replicates:
    """The runs of one configuration and, per agent row, each statistic over their seeds.

    Attributes:
        label: What sets the configuration apart from the task's others.
        runs: The runs, one per training seed.
        rows: ``{agent: {statistic: Estimate}}`` over the runs that have the agent row.
        seeds: ``{agent: number of runs}``.
    """

    label: str
    runs: tuple[Run, ...]
    rows: dict[str, dict[str, Estimate]]
    seeds: dict[str, int]


def bootstrap_interval(
    values: Sequence[float], rng: np.random.Generator, resamples: int = RESAMPLES
) -> Estimate:
    """The mean of ``values`` with the 95 % percentile-bootstrap interval of the mean.

    Raises:
        ValueError: If ``values`` is empty.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"values of shape {values.shape} are invalid; expected (n,), n >= 1")
    if values.size == 1:
        return Estimate(float(values[0]), None, None)
    means = values[rng.integers(0, values.size, (resamples, values.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Estimate(float(values.mean()), float(low), float(high))


def group_replicates(runs: Sequence[Run], agents: Sequence[str], seed: int = 0) -> list[Replicates]:
    """The runs grouped by configuration, in order of first appearance, with estimates.

    Args:
        runs: Runs of one task.
        agents: For each run, the names of its rows that are agents (not baselines).
        seed: Seed of the bootstrap's resampling.
    """
    groups: dict[str, list[tuple[Run, Sequence[str]]]] = {}
    for run, names in zip(runs, agents, strict=True):
        groups.setdefault(run.replicate_key, []).append((run, names))
    labels = distinguishing_labels([members[0][0] for members in groups.values()])
    rng = np.random.default_rng(seed)
    result = []
    for label, members in zip(labels, groups.values(), strict=True):
        values: dict[str, dict[str, list[float]]] = {}
        for run, names in members:
            for name in names:
                for key in STATISTICS:
                    values.setdefault(name, {}).setdefault(key, []).append(run.rows[name][key])
        rows = {
            name: {key: bootstrap_interval(series, rng) for key, series in stats.items()}
            for name, stats in values.items()
        }
        seeds = {name: len(stats["average"]) for name, stats in values.items()}
        result.append(Replicates(label, tuple(run for run, _ in members), rows, seeds))
    return result


def distinguishing_labels(runs: Sequence[Run]) -> list[str]:
    """Per run, its script and the config values that differ among that script's runs."""
    flat = [_flatten(run.config) for run in runs]
    labels = []
    for run, config in zip(runs, flat, strict=True):
        peers = [other for peer, other in zip(runs, flat, strict=True) if peer.script == run.script]
        keys = sorted({key for other in peers for key in other})
        varying = [key for key in keys if len({json.dumps(o.get(key)) for o in peers}) > 1]
        values = (f"{k}={_short(config[k])}" for k in varying if k in config)
        labels.append(" ".join([run.script, *values]))
    return labels


def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _short(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else json.dumps(value).strip('"')
