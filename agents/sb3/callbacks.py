"""`AdversaryLogger`: what a tracking adversary believes of the agent, in SB3's logger.

The callback reads an adversary's per-instance estimated returns, ``adversary.estimates``
(one float per candidate, NaN for a candidate not seen yet), and its candidates,
``adversary.instances`` (the same order), as `TrackingAdversary` keeps them. After every
rollout it records under ``adversary/``: how many candidates have been seen, the average,
95th percentile and worst of their estimates (`agents.metrics.summarize`), the estimates of
the ``worst`` lowest ones, and, for TensorBoard only, a histogram of the estimates and the
worst instances as text.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback

from agents.metrics import summarize

TENSORBOARD_ONLY = ("stdout", "log", "json", "csv")


class AdversaryLogger(BaseCallback):
    """Records an adversary's estimates after every rollout (see the module docstring).

    Args:
        adversary: An object with ``estimates`` and ``instances``, e.g. a `TrackingAdversary`
            once bound to the env.
        worst: How many of the lowest estimates to record one by one.
    """

    def __init__(self, adversary: Any, worst: int = 3) -> None:
        super().__init__()
        if not (hasattr(adversary, "estimates") and hasattr(adversary, "instances")):
            raise ValueError(
                f"{type(adversary).__name__} has no per-instance estimates; expected a bound "
                "adversary with `estimates` and `instances`, such as TrackingAdversary"
            )
        if isinstance(worst, bool) or not isinstance(worst, int) or worst < 1:
            raise ValueError(f"worst={worst!r} is invalid; expected an int >= 1")
        self.adversary, self.worst = adversary, worst

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        estimates = np.asarray(self.adversary.estimates, dtype=np.float64)
        seen = np.flatnonzero(~np.isnan(estimates))
        self.logger.record("adversary/seen", int(seen.size))
        if not seen.size:
            return
        for key, value in summarize(estimates[seen]).items():
            self.logger.record(f"adversary/estimate_{key}", value)
        lowest = seen[np.argsort(estimates[seen], kind="stable")[: self.worst]]
        for rank, index in enumerate(lowest, start=1):
            self.logger.record(f"adversary/worst_{rank}", float(estimates[index]))
            instance = self.adversary.instances[index]
            self.logger.record(
                f"adversary/worst_{rank}_instance", _text(instance), exclude=TENSORBOARD_ONLY
            )
        self.logger.record(
            "adversary/estimates", torch.as_tensor(estimates[seen]), exclude=TENSORBOARD_ONLY
        )


def _text(instance: Any) -> str:
    """An instance as one line of text (arrays as nested lists)."""
    if isinstance(instance, dict):
        return str({key: np.asarray(value).tolist() for key, value in instance.items()})
    return str(np.asarray(instance).tolist())
