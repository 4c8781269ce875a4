"""The final evaluation of an ES run: the trained agent against its task's classical algorithms.

The trained network is evaluated under fresh policy seeds (the randomized algorithm), under
its best single seed (the network derandomized as well as it can be: a deterministic
algorithm) and under the best mixture of the same seeds; the task's baselines are played in
its env on the same instances, and its exactly computed references (e.g. the grid world's game
value) are added as they are.
"""

from __future__ import annotations

import numpy as np

from agents.baselines.game_value import best_mixture
from agents.baselines.play import baseline_rows
from agents.evolution.engine import Rollouts
from agents.evolution.run import Evolution
from agents.metrics import summarize


def trained_rows(returns: np.ndarray) -> dict[str, dict[str, float]]:
    """Summaries over instances of a trained agent's returns (I, M), three ways of using its seeds.

    Under each of its M seeds the network is a deterministic algorithm. The randomized agent
    draws one of them uniformly; the derandomized agent keeps the seed whose worst instance is
    best; the mixed agent draws from the same M seeds with the weights that make its worst
    instance's expected return best (the matrix game's linear program, seeds against instances).
    """
    best_seed = int(returns.min(axis=0).argmax())
    mixture = best_mixture(returns.T)
    return {
        f"trained, random seeds (m={returns.shape[1]})": summarize(returns.mean(axis=1)),
        "trained, best fixed seed (deterministic)": summarize(returns[:, best_seed]),
        "trained, its seeds mixed by the LP": summarize(returns @ mixture),
    }


def final_evaluation(run: Evolution, n_seeds: int) -> tuple[dict[str, dict[str, float]], Rollouts]:
    """The table rows of the run's ES center and the task's classical algorithms.

    Returns:
        ``(rows, rollouts)``: summaries by agent, and the recorded rollouts of the center on
        the evaluation instances under the evaluation seeds.
    """
    seeds = run.evaluation_seeds(n_seeds)
    rollouts = run.engine.play(run.es.center[None], run.evaluation_instances, seeds, record=True)
    rows = trained_rows(rollouts.returns[0].numpy())
    rows |= baseline_rows(run.task, run.evaluation_instances, n_seeds)
    return rows | run.task.references(), rollouts
